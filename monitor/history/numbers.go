package history

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"

	"github.com/switchboard/switchboard/monitor/e164"
)

// Every call row keeps two searchable forms of each party's number beside
// the number as the source gave it:
//
//   - the key (e164.Key): E.164 for what reads as a telephone number in the
//     configured country (+491701234567 for 0170 1234567, +49 170…,
//     0049170…), else the digits as written (201, **610);
//   - the digits as written (01701234567), with * and #, for numbers
//     the key cannot read (a short service number, an E.164 number a PBX
//     sends without its +, any number while no country is configured).
//
// A search is brought to the same forms (see parseNumberQuery), so that
// however either side was written, the same calls are found.

// keyVersion names the way keys are made; it is stored with the country
// they were made for, and a database whose keys were made another way, or
// for another country, has them made again at Open. Raise it when
// partyForms changes.
const keyVersion = 1

// partyForms returns the key and the digits of a party's number.
func partyForms(number, country string) (key, digits string) {
	if number == "" {
		return "", ""
	}
	return e164.Key(number, country), dialDigits(number)
}

// dialDigits returns the digits, * and # of s, in order.
func dialDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' || r == '*' || r == '#' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// numberRules are what a search needs to know of the configured country:
// its calling code and how its people write a number from its start, with
// the international prefix (00 in most of the world, 011 in North
// America) or the national trunk prefix (0 in Germany, 1 in the US).
type numberRules struct {
	country  string
	code     string         // the country calling code, "49"; empty without a country
	national string         // the national prefix, "0"; empty where there is none
	intl     *regexp.Regexp // the international prefix, anchored at the start
}

// defaultIntl is the international prefix when no country is configured:
// 00 is it nearly everywhere an office runs this (as e164.Normalize
// assumes).
var defaultIntl = regexp.MustCompile(`^00`)

// regionIntl holds each region's international prefix pattern from
// libphonenumber's metadata, read once: the package's metadata loader is
// not safe to call from two goroutines at once.
var regionIntl = sync.OnceValues(func() (map[string]string, error) {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, md := range coll.GetMetadata() {
		out[md.GetId()] = md.GetInternationalPrefix()
	}
	return out, nil
})

// newNumberRules returns the rules of country, an ISO 3166 region such as
// "DE"; empty knows only international forms.
func newNumberRules(country string) (numberRules, error) {
	country = strings.ToUpper(strings.TrimSpace(country))
	r := numberRules{country: country, intl: defaultIntl}
	if country == "" {
		return r, nil
	}
	code := phonenumbers.GetCountryCodeForRegion(country)
	if code == 0 {
		return r, fmt.Errorf("%w: %q", ErrBadCountry, country)
	}
	r.code = strconv.Itoa(code)
	r.national = phonenumbers.GetNddPrefixForRegion(country, true)
	prefixes, err := regionIntl()
	if err != nil {
		return r, fmt.Errorf("phone number metadata: %w", err)
	}
	if p := prefixes[country]; p != "" {
		re, err := regexp.Compile("^(?:" + p + ")")
		if err != nil {
			return r, fmt.Errorf("international prefix of %s: %w", country, err)
		}
		r.intl = re
	}
	return r, nil
}

// CheckCountry reports whether region (such as "DE", in any case) is a
// country WithDefaultCountry takes; empty is fine. The error wraps
// ErrBadCountry.
func CheckCountry(region string) error {
	_, err := newNumberRules(region)
	return err
}

// keysID is what the stored keys are made with: the way and the country.
func (r numberRules) keysID() string {
	return fmt.Sprintf("v%d %s", keyVersion, r.country)
}

// numberQuery is a number search brought to the stored forms. A search
// matches a call when either party matches one of its terms.
type numberQuery struct {
	// text is a search that is no telephone number (letters, a SIP
	// address): a substring of the number as stored.
	text string
	// anywhere is a search of bare digits (1234567, 170 123): a substring
	// of the key or of the digits, as someone searches for the end or the
	// middle of a number.
	anywhere string
	// keyPrefixes and digitPrefixes are a search written from the
	// number's start (+49 170…, 0049 170…, 0170…): a prefix of the key
	// (+49170…) or of the digits, as written (0170…) or international
	// (49170…, a number a PBX sends as E.164 without its +).
	keyPrefixes, digitPrefixes []string
}

// querySeparators are what people write between the digits of a number.
const querySeparators = " \t\u00a0-/.()"

// parseNumberQuery reads a search for a number, written in any of the ways
// a number is written, as a prefix (0170 123), a part (1234567) or whole.
func (r numberRules) parseNumberQuery(q string) numberQuery {
	q = strings.TrimSpace(q)
	if q == "" {
		return numberQuery{}
	}
	plus := strings.HasPrefix(q, "+")
	rest := strings.TrimPrefix(q, "+")
	written := dialDigits(rest)
	if plus {
		// "+49 (0)170…", as business cards write it: the trunk prefix in
		// brackets is not dialled from abroad.
		rest = strings.Replace(rest, "(0)", "", 1)
	}
	if strings.ContainsFunc(rest, func(c rune) bool {
		return (c < '0' || c > '9') && c != '*' && c != '#' && !strings.ContainsRune(querySeparators, c)
	}) {
		return numberQuery{text: q}
	}
	d := dialDigits(rest)
	if d == "" {
		return numberQuery{text: q}
	}
	// The international digits (country code and national number) of a
	// search written from the number's start, when it is.
	var intl string
	anchored := true
	switch {
	case plus:
		intl = d
	case r.intl.MatchString(d):
		intl = d[len(r.intl.FindString(d)):]
	case r.code != "" && r.national != "" && strings.HasPrefix(d, r.national):
		intl = r.code + strings.TrimPrefix(d, r.national)
	case r.code != "" && r.national == "" && strings.HasPrefix(d, "0"):
		// Where there is no trunk prefix (Italy), a national number keeps
		// its leading 0 after the country code.
		intl = r.code + d
	case r.code == "" && strings.HasPrefix(d, "0"):
		// A national number in a country not configured: only as written.
	default:
		anchored = false
	}
	if !anchored {
		return numberQuery{anywhere: d}
	}
	nq := numberQuery{digitPrefixes: []string{written}}
	if intl != "" {
		nq.keyPrefixes = append(nq.keyPrefixes, "+"+intl)
		if intl != written {
			nq.digitPrefixes = append(nq.digitPrefixes, intl)
		}
	}
	return nq
}

// sql returns the condition nq puts on a call row and its arguments;
// ilike is the database's LIKE that ignores the case of ASCII letters,
// for the text search (the stored forms hold no letters).
func (nq numberQuery) sql(ilike string) (string, []any) {
	var terms []string
	var args []any
	// The forms hold digits, *, # and a leading + only, none of LIKE's
	// wildcards; the text search escapes them.
	likeOp := func(op, col, pat string) {
		terms = append(terms, col+" "+op+` ? ESCAPE '\'`)
		args = append(args, pat)
	}
	like := func(col, pat string) { likeOp("LIKE", col, pat) }
	switch {
	case nq.text != "":
		pat := "%" + likeEscaper.Replace(nq.text) + "%"
		likeOp(ilike, "from_number", pat)
		likeOp(ilike, "to_number", pat)
	case nq.anywhere != "":
		pat := "%" + nq.anywhere + "%"
		for _, col := range []string{"from_key", "from_digits", "to_key", "to_digits"} {
			like(col, pat)
		}
	default:
		for _, p := range nq.keyPrefixes {
			like("from_key", p+"%")
			like("to_key", p+"%")
		}
		for _, p := range nq.digitPrefixes {
			like("from_digits", p+"%")
			like("to_digits", p+"%")
		}
	}
	if len(terms) == 0 {
		return "", nil
	}
	return "(" + strings.Join(terms, " OR ") + ")", args
}
