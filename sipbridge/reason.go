package sipbridge

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// ErrBadReason is a Reason header value that does not follow RFC 3326.
var ErrBadReason = errors.New("bad Reason header")

// maxReasonLen bounds one Reason header value; longer ones are refused
// rather than scanned.
const maxReasonLen = 1024

// ReasonValue is one reason-value of a Reason header (RFC 3326 section
// 2): the protocol (SIP, Q.850, …) with its cause and text.
type ReasonValue struct {
	// Protocol is upper-cased: "SIP", "Q.850", or another token.
	Protocol string
	// Cause is the cause parameter, 0 when missing.
	Cause int
	// Text is the text parameter, unquoted and unescaped.
	Text string
}

// Q.850 cause values that end a ringing call for this side because
// another device took it (ITU-T Q.850 table 1).
const (
	// q850NonSelected is "non-selected user clearing": the call was
	// offered to several and another one answered.
	q850NonSelected = 26
	// q850Normal is "normal call clearing"; it says "answered elsewhere"
	// only with that text.
	q850Normal = 16
)

// parseReason reads one Reason header value, which may hold several
// reason-values separated by commas:
//
//	SIP ;cause=200 ;text="Call completed elsewhere", Q.850;cause=26
func parseReason(v string) ([]ReasonValue, error) {
	if len(v) > maxReasonLen {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBadReason, len(v), maxReasonLen)
	}
	var out []ReasonValue
	p := reasonScanner{s: v}
	for {
		p.space()
		proto := p.token()
		if proto == "" {
			return nil, fmt.Errorf("%w: %q: want a protocol at %d", ErrBadReason, v, p.i)
		}
		rv := ReasonValue{Protocol: strings.ToUpper(proto)}
		causeSeen := false
		for {
			p.space()
			if !p.take(';') {
				break
			}
			p.space()
			name := strings.ToLower(p.token())
			if name == "" {
				return nil, fmt.Errorf("%w: %q: want a parameter name at %d", ErrBadReason, v, p.i)
			}
			p.space()
			val := ""
			if p.take('=') {
				p.space()
				var err error
				if val, err = p.value(); err != nil {
					return nil, fmt.Errorf("%w: %q: %w", ErrBadReason, v, err)
				}
			}
			switch name {
			case "cause":
				n, err := strconv.Atoi(val)
				if err != nil || n < 0 || n > 999 || causeSeen {
					return nil, fmt.Errorf("%w: %q: cause %q", ErrBadReason, v, val)
				}
				rv.Cause, causeSeen = n, true
			case "text":
				rv.Text = val
			}
		}
		out = append(out, rv)
		p.space()
		if p.done() {
			return out, nil
		}
		if !p.take(',') {
			return nil, fmt.Errorf("%w: %q: unexpected %q at %d", ErrBadReason, v, p.s[p.i], p.i)
		}
	}
}

// reasonScanner walks a Reason value.
type reasonScanner struct {
	s string
	i int
}

func (p *reasonScanner) done() bool { return p.i >= len(p.s) }

func (p *reasonScanner) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *reasonScanner) take(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// token reads an RFC 3261 token (letters, digits and -.!%*_+`'~).
func (p *reasonScanner) token() string {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// value reads a token or a quoted string (with \-escapes).
func (p *reasonScanner) value() (string, error) {
	if !p.take('"') {
		if t := p.token(); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("want a value at %d", p.i)
	}
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return b.String(), nil
		case c == '\\':
			if p.i >= len(p.s) {
				return "", errors.New("escape at the end")
			}
			b.WriteByte(p.s[p.i])
			p.i++
		case c < 0x20 && c != '\t':
			return "", fmt.Errorf("control character at %d", p.i-1)
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("unclosed quoted string")
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~", c) >= 0
}

// answeredElsewhere reports whether the reasons say another device took
// the call: SIP cause 200 (RFC 3326 section 3.1, the forking proxy's
// "Call completed elsewhere"), Q.850 cause 26 (non-selected user
// clearing), or Q.850 cause 16 with the words "completed elsewhere" or
// "answered elsewhere", which some PBXs send instead.
func answeredElsewhere(rs []ReasonValue) bool {
	for _, r := range rs {
		switch r.Protocol {
		case "SIP":
			if r.Cause == sip.StatusOK {
				return true
			}
		case "Q.850":
			if r.Cause == q850NonSelected {
				return true
			}
			if r.Cause == q850Normal {
				t := strings.ToLower(r.Text)
				if strings.Contains(t, "completed elsewhere") || strings.Contains(t, "answered elsewhere") {
					return true
				}
			}
		}
	}
	return false
}

// messageReasons reads every Reason header of m. A bad one is skipped and
// reported in err, so that one broken value does not hide a good one.
func messageReasons(m sip.Message) ([]ReasonValue, error) {
	var out []ReasonValue
	var errs []error
	for _, h := range m.GetHeaders("Reason") {
		rs, err := parseReason(h.Value())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, rs...)
	}
	return out, errors.Join(errs...)
}
