package phonebook

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxFritzDepth bounds how deep an element may nest in a Fritz!Box
// phonebook: the real ones are six levels deep.
const maxFritzDepth = 32

// ParseFritzXML reads a phonebook exported from a Fritz!Box (Telefonie >
// Telefonbuch > Sichern, or the TR-064 GetPhonebook URL):
// <phonebooks><phonebook><contact><person><realName>…</realName></person>
// <telephony><number type="home">…</number>…</telephony></contact>….
// Every contact with a name and a number is an entry; others are skipped
// and returned as errors (ErrBadEntry). Malformed XML ends the reading
// with an error after the contacts read so far.
func ParseFritzXML(r io.Reader) ([]Entry, []error) {
	dec := xml.NewDecoder(r)
	dec.Strict = false
	dec.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	var (
		entries []Entry
		errs    []error
		stack   []string
		cur     *Entry
		text    strings.Builder
		n       int
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: fritz xml: %w", ErrBadEntry, err))
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := strings.ToLower(t.Name.Local)
			if len(stack) >= maxFritzDepth {
				errs = append(errs, fmt.Errorf("%w: fritz xml: nested too deep", ErrBadEntry))
				return entries, errs
			}
			stack = append(stack, name)
			text.Reset()
			if name == "contact" {
				cur = &Entry{}
				n++
			}
		case xml.CharData:
			if text.Len() < 4096 {
				text.Write(t)
			}
		case xml.EndElement:
			name := strings.ToLower(t.Name.Local)
			if len(stack) == 0 {
				continue
			}
			stack = stack[:len(stack)-1]
			if cur == nil {
				continue
			}
			switch name {
			case "realname":
				if inside(stack, "person") {
					cur.Name = cleanName(text.String())
				}
			case "number":
				if inside(stack, "telephony") {
					if v := strings.TrimSpace(text.String()); v != "" {
						cur.Numbers = append(cur.Numbers, v)
					}
				}
			case "contact":
				if cur.Name == "" || len(cur.Numbers) == 0 {
					errs = append(errs, fmt.Errorf("%w: fritz xml contact %d: no name or no number", ErrBadEntry, n))
				} else {
					entries = append(entries, *cur)
				}
				cur = nil
			}
			text.Reset()
		}
	}
	return entries, errs
}

func inside(stack []string, name string) bool {
	for _, s := range stack {
		if s == name {
			return true
		}
	}
	return false
}
