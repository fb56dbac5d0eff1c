package phonebook

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// minNational is the fewest digits a number needs to be read as a
// telephone number; shorter ones (201, **610) are extensions, compared
// as they are.
const minNational = 6

// Normalize returns the form numbers are compared in: E.164
// ("+49301234567") for anything that reads as a telephone number in
// country (an ISO 3166 code such as "DE"; the national trunk prefix 0
// and the international prefix 00 are read as that country dials them),
// else the number's digits (an internal extension). Spaces, dashes,
// slashes, dots and brackets do not count; a "tel:" URI is read as its
// number. It returns "" for a string without digits.
func Normalize(number, country string) string {
	s := strings.TrimSpace(number)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "tel:"), "TEL:")
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i] // tel:+4930…;ext=1
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && b.Len() == 0 && i < 2:
			b.WriteRune(r)
		case r == '*' || r == '#':
			b.WriteRune(r)
		}
	}
	d := b.String()
	digits := strings.TrimPrefix(d, "+")
	if digits == "" {
		return ""
	}
	if strings.ContainsAny(d, "*#") || len(digits) < minNational {
		return "x" + d
	}
	if country == "" && !strings.HasPrefix(d, "+") {
		if strings.HasPrefix(d, "00") {
			d = "+" + d[2:]
		} else {
			return "x" + d
		}
	}
	num, err := phonenumbers.Parse(d, strings.ToUpper(country))
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return "x" + d
	}
	return phonenumbers.Format(num, phonenumbers.E164)
}
