package phonebook

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// maxVCardLine bounds one (unfolded) vCard line.
const maxVCardLine = 64 << 10

// ParseVCard reads vCards (RFC 2426 version 3.0, RFC 6350 version 4.0,
// and version 2.1's folding and parameters): each BEGIN:VCARD … END:VCARD
// gives its FN (else N as given then family name, else ORG) and every
// TEL (a number, or a tel: URI in 4.0). Lines are unfolded (a line
// starting with a space or tab continues the one before); backslash
// escapes are read. A card without a name or a number, or without its
// END, is skipped and returned as an error (ErrBadEntry).
func ParseVCard(r io.Reader) ([]Entry, []error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxVCardLine)
	var (
		entries []Entry
		errs    []error
		card    *vcard
		logical strings.Builder
		lineNo  int
		have    bool
	)
	flush := func() {
		if !have {
			return
		}
		line := logical.String()
		logical.Reset()
		have = false
		name, params, value, ok := splitContentLine(line)
		if !ok {
			return
		}
		switch name {
		case "BEGIN":
			if strings.EqualFold(value, "VCARD") {
				if card != nil {
					errs = append(errs, fmt.Errorf("%w: vcard at line %d: no END:VCARD", ErrBadEntry, card.line))
				}
				card = &vcard{line: lineNo}
			}
		case "END":
			if card != nil && strings.EqualFold(value, "VCARD") {
				if e, err := card.entry(); err != nil {
					errs = append(errs, err)
				} else {
					entries = append(entries, e)
				}
				card = nil
			}
		default:
			if card != nil {
				card.add(name, params, value)
			}
		}
	}
	for sc.Scan() {
		lineNo++
		raw := strings.TrimRight(sc.Text(), "\r")
		if len(raw) > 0 && (raw[0] == ' ' || raw[0] == '\t') && have {
			logical.WriteString(raw[1:])
			continue
		}
		flush()
		logical.WriteString(raw)
		have = true
	}
	flush()
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%w: vcard line %d: %w", ErrBadEntry, lineNo+1, err))
	}
	if card != nil {
		errs = append(errs, fmt.Errorf("%w: vcard at line %d: no END:VCARD", ErrBadEntry, card.line))
	}
	return entries, errs
}

// vcard collects one card's properties.
type vcard struct {
	line       int
	fn, n, org string
	tels       []string
}

func (c *vcard) add(name, params, value string) {
	switch name {
	case "FN":
		c.fn = unescape(value)
	case "N":
		c.n = value
	case "ORG":
		org, _, _ := strings.Cut(value, ";")
		c.org = unescape(org)
	case "TEL":
		v := unescape(value)
		if strings.Contains(strings.ToLower(params), "value=uri") || strings.HasPrefix(strings.ToLower(v), "tel:") {
			v = strings.TrimPrefix(strings.TrimPrefix(v, "tel:"), "TEL:")
		}
		if v = strings.TrimSpace(v); v != "" {
			c.tels = append(c.tels, v)
		}
	}
}

func (c *vcard) entry() (Entry, error) {
	name := cleanName(c.fn)
	if name == "" && c.n != "" {
		parts := strings.Split(c.n, ";") // family;given;additional;prefix;suffix
		var out []string
		for _, i := range []int{3, 1, 2, 0, 4} {
			if i < len(parts) {
				if p := unescape(parts[i]); strings.TrimSpace(p) != "" {
					out = append(out, p)
				}
			}
		}
		name = cleanName(strings.Join(out, " "))
	}
	if name == "" {
		name = cleanName(c.org)
	}
	if name == "" || len(c.tels) == 0 {
		return Entry{}, fmt.Errorf("%w: vcard at line %d: no name or no number", ErrBadEntry, c.line)
	}
	return Entry{Name: name, Numbers: c.tels}, nil
}

// splitContentLine splits "TEL;TYPE=cell:+4930…" (group prefixes such as
// "item1." dropped) into its upper-case name, parameters and value.
func splitContentLine(line string) (name, params, value string, ok bool) {
	// The colon ending the name may not be inside a quoted parameter.
	inQuote := false
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '"':
			inQuote = !inQuote
		case ':':
			if !inQuote {
				head := line[:i]
				value = line[i+1:]
				name, params, _ = strings.Cut(head, ";")
				if dot := strings.LastIndexByte(name, '.'); dot >= 0 {
					name = name[dot+1:]
				}
				return strings.ToUpper(strings.TrimSpace(name)), params, value, true
			}
		}
	}
	return "", "", "", false
}

// unescape reads vCard text escapes (\n, \,, \;, \\).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n', 'N':
				b.WriteByte(' ')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
