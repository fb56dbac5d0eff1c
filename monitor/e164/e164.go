// Package e164 brings telephone numbers as sources, users and phonebooks
// write them (+49 170 1234567, 0170 1234567, 0049170…, 030/123 45-67) to
// one form, E.164 (+491701234567), so that they compare equal. It wraps
// github.com/nyaruka/phonenumbers, a port of Google's libphonenumber.
package e164

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Normalize returns number in E.164 form, reading a national number
// (0170…) as one of defaultCountry (an ISO 3166 region such as "DE"; empty
// reads only international forms). ok is false for what is not a
// telephone number in that sense (an internal extension such as 201, a
// SIP user name, a withheld number): callers then compare it as written.
func Normalize(number, defaultCountry string) (string, bool) {
	n := telNumber(number)
	if n == "" || strings.ContainsAny(n, "@:") {
		return "", false
	}
	// "00" is the international call prefix nearly everywhere an office
	// runs this; libphonenumber only knows it for the default region.
	if strings.HasPrefix(n, "00") && defaultCountry == "" {
		n = "+" + n[2:]
	}
	region := strings.ToUpper(defaultCountry)
	if region == "" {
		region = "ZZ"
	}
	p, err := phonenumbers.Parse(n, region)
	if err != nil {
		return "", false
	}
	// Written with a prefix (+, 00, a national trunk 0) it is meant as a
	// telephone number: possible is enough. Bare digits are also how
	// internal extensions are written (201): only a number valid in the
	// region's plan counts then.
	prefixed := n[0] == '+' || n[0] == '0'
	if prefixed && !phonenumbers.IsPossibleNumber(p) || !prefixed && !phonenumbers.IsValidNumber(p) {
		return "", false
	}
	return phonenumbers.Format(p, phonenumbers.E164), true
}

// Key is the form number is compared in: its E.164 form when it has one,
// else its digits (and a leading +) as written, so that short internal
// numbers still match themselves.
func Key(number, defaultCountry string) string {
	if e, ok := Normalize(number, defaultCountry); ok {
		return e
	}
	var b strings.Builder
	for i, r := range telNumber(number) {
		switch {
		case r >= '0' && r <= '9', r == '*', r == '#':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return strings.TrimSpace(number)
	}
	return b.String()
}

// telNumber is number without surrounding space and, for a tel: URI
// (RFC 3966, as phonebooks and click-to-dial links write them), without
// the scheme and the parameters (;ext=2, ;phone-context=…).
func telNumber(number string) string {
	n := strings.TrimSpace(number)
	if len(n) > 4 && strings.EqualFold(n[:4], "tel:") {
		n = n[4:]
		if i := strings.IndexByte(n, ';'); i >= 0 {
			n = n[:i]
		}
	}
	return n
}
