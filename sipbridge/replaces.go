package sipbridge

import (
	"fmt"
	"strings"
)

// replaces is the value of a Replaces header (RFC 3891 section 6.1): the
// dialog an INVITE takes over, named by its Call-ID and tags as the
// recipient of the INVITE knows them — to-tag is the recipient's own
// (local) tag, from-tag the tag of the party it talks to.
type replaces struct {
	callID    string
	toTag     string
	fromTag   string
	earlyOnly bool
}

// maxReplaces bounds the header value accepted.
const maxReplaces = 1024

// parseReplaces parses "callid;to-tag=X;from-tag=Y[;early-only]". Both
// tags are required; a parameter given twice, an empty Call-ID or a
// character a Call-ID may not hold fail with ErrBadReplaces. Unknown
// parameters are ignored (RFC 3891 generic-param).
func parseReplaces(s string) (replaces, error) {
	if len(s) > maxReplaces {
		return replaces{}, fmt.Errorf("%w: %d bytes", ErrBadReplaces, len(s))
	}
	parts := strings.Split(s, ";")
	var r replaces
	r.callID = strings.TrimSpace(parts[0])
	if r.callID == "" || !isCallID(r.callID) {
		return replaces{}, fmt.Errorf("%w: call-id %q", ErrBadReplaces, clip(r.callID))
	}
	seen := map[string]bool{}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if k == "" {
			return replaces{}, fmt.Errorf("%w: empty parameter", ErrBadReplaces)
		}
		if seen[k] {
			return replaces{}, fmt.Errorf("%w: %s given twice", ErrBadReplaces, clip(k))
		}
		seen[k] = true
		switch k {
		case "to-tag":
			r.toTag = v
		case "from-tag":
			r.fromTag = v
		case "early-only":
			r.earlyOnly = true
		}
	}
	if r.toTag == "" || r.fromTag == "" {
		return replaces{}, fmt.Errorf("%w: to-tag and from-tag are required", ErrBadReplaces)
	}
	if !isToken(r.toTag) || !isToken(r.fromTag) {
		return replaces{}, fmt.Errorf("%w: tag %q / %q", ErrBadReplaces, clip(r.toTag), clip(r.fromTag))
	}
	return r, nil
}

// String is the header value, "callid;to-tag=X;from-tag=Y".
func (r replaces) String() string {
	s := r.callID + ";to-tag=" + r.toTag + ";from-tag=" + r.fromTag
	if r.earlyOnly {
		s += ";early-only"
	}
	return s
}

// isCallID reports whether s is word ["@" word] (RFC 3261 section 25.1).
func isCallID(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isWordChar(s[i]) && s[i] != '@' {
			return false
		}
	}
	return true
}

// isWordChar: alphanum and the punctuation RFC 3261's word allows.
func isWordChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~()<>:\\\"/[]?{}", c) >= 0
}

// isToken reports whether s is a non-empty RFC 3261 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// escapeURIHeader escapes a header value for the headers part of a SIP
// URI (RFC 3261 section 19.1.1: hvalue is hnv-unreserved, unreserved or
// escaped): everything but alphanumerics and "-_.!~*'()" is %-escaped.
func escapeURIHeader(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-_.!~*'()", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
