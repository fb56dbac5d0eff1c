package phonebook

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// nameColumns and numberColumns are the header words a CSV export names
// its columns with (Outlook, Google, Thunderbird, hand-made lists).
var (
	nameColumns   = []string{"name", "display name", "full name", "anzeigename", "kontakt", "contact"}
	givenColumns  = []string{"first name", "given name", "vorname"}
	familyColumns = []string{"last name", "family name", "surname", "nachname"}
	orgColumns    = []string{"company", "organization", "organisation", "firma"}
)

// numberColumn reports whether a header names a telephone number.
func numberColumn(h string) bool {
	for _, w := range []string{"number", "phone", "tel", "mobile", "mobil", "handy", "fax", "nummer", "rufnummer"} {
		if strings.Contains(h, w) {
			return true
		}
	}
	return false
}

// ParseCSV reads a CSV phonebook: comma or semicolon separated (the one
// the first line holds more of), quoted as RFC 4180 says. A first line
// that names its columns (name, first name, last name, company, and any
// number, phone, tel or mobile columns) says where names and numbers
// are; without one, the first column is the name and the others numbers.
// Rows without a name or a number are skipped and returned as errors
// (ErrBadEntry), with the line, alongside the entries.
func ParseCSV(r io.Reader) ([]Entry, []error) {
	br := bufio.NewReader(r)
	first, _ := br.Peek(4096)
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	if bytes.Count(first, []byte{';'}) > bytes.Count(first, []byte{','}) {
		cr.Comma = ';'
	}
	var (
		entries []Entry
		errs    []error
		cols    *columns
		line    int
	)
	for {
		rec, err := cr.Read()
		line++
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && !errors.Is(pe.Err, csv.ErrFieldCount) {
				errs = append(errs, fmt.Errorf("%w: csv: %w", ErrBadEntry, err))
				if errors.Is(pe.Err, csv.ErrBareQuote) || errors.Is(pe.Err, csv.ErrQuote) {
					continue
				}
			}
			if rec == nil {
				break
			}
		}
		if line == 1 {
			if c, ok := header(rec); ok {
				cols = c
				continue
			}
			cols = &columns{name: []int{0}, numbers: nil, rest: true}
		}
		e := cols.entry(rec)
		if e.Name == "" || len(e.Numbers) == 0 {
			if len(rec) > 1 || (len(rec) == 1 && strings.TrimSpace(rec[0]) != "") {
				errs = append(errs, fmt.Errorf("%w: csv line %d: no name or no number", ErrBadEntry, line))
			}
			continue
		}
		entries = append(entries, e)
	}
	return entries, errs
}

// columns says which columns of a CSV hold what.
type columns struct {
	name, given, family, org, numbers []int
	// rest: every column after the name is a number.
	rest bool
}

func header(rec []string) (*columns, bool) {
	c := &columns{}
	for i, h := range rec {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		switch {
		case contains(nameColumns, h):
			c.name = append(c.name, i)
		case contains(givenColumns, h):
			c.given = append(c.given, i)
		case contains(familyColumns, h):
			c.family = append(c.family, i)
		case contains(orgColumns, h):
			c.org = append(c.org, i)
		case numberColumn(h):
			c.numbers = append(c.numbers, i)
		}
	}
	named := len(c.name)+len(c.given)+len(c.family)+len(c.org) > 0
	return c, named && len(c.numbers) > 0
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func field(rec []string, i int) string {
	if i < len(rec) {
		return strings.TrimSpace(rec[i])
	}
	return ""
}

func (c *columns) entry(rec []string) Entry {
	var e Entry
	for _, i := range c.name {
		if v := field(rec, i); v != "" && e.Name == "" {
			e.Name = cleanName(v)
		}
	}
	if e.Name == "" {
		var parts []string
		for _, i := range append(append([]int{}, c.given...), c.family...) {
			if v := field(rec, i); v != "" {
				parts = append(parts, v)
			}
		}
		e.Name = cleanName(strings.Join(parts, " "))
	}
	if e.Name == "" {
		for _, i := range c.org {
			if v := field(rec, i); v != "" && e.Name == "" {
				e.Name = cleanName(v)
			}
		}
	}
	nums := c.numbers
	if c.rest {
		nums = nil
		for i := 1; i < len(rec); i++ {
			nums = append(nums, i)
		}
	}
	for _, i := range nums {
		if v := field(rec, i); v != "" {
			for _, n := range strings.FieldsFunc(v, func(r rune) bool { return r == '|' || r == '\n' }) {
				if n = strings.TrimSpace(n); n != "" {
					e.Numbers = append(e.Numbers, strings.Clone(n))
				}
			}
		}
	}
	e.Name = strings.Clone(e.Name)
	return e
}
