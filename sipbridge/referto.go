package sipbridge

import (
	"fmt"
	"net/url"
	"strings"
)

// referTarget is a parsed Refer-To header value (RFC 3515 section 2.1):
// the URI to call and the headers its "?" part asks the new request to
// carry (RFC 3261 section 19.1.5), unescaped.
type referTarget struct {
	// uri is the target without its headers part: "sip:1002@pbx;user=phone".
	uri string
	// scheme is the URI scheme, lower case: "sip", "sips", "tel", ...
	scheme string
	// user is the user part of a sip/sips URI or the number of a tel URI.
	user string
	// headers are the URI headers in order.
	headers []uriHeader
}

// uriHeader is one hname=hvalue of a URI's headers part.
type uriHeader struct {
	name, value string
}

// header returns the value of the first URI header named name
// (case-insensitive).
func (r referTarget) header(name string) (string, bool) {
	for _, h := range r.headers {
		if strings.EqualFold(h.name, name) {
			return h.value, true
		}
	}
	return "", false
}

// maxReferTo bounds the header value accepted.
const maxReferTo = 4096

// parseReferTo parses a Refer-To value: a name-addr (`"Name"
// <sip:1002@pbx?Replaces=...>;param`) or an addr-spec (`sip:1002@pbx`,
// where ";" starts header parameters). Malformed values fail with
// ErrBadReferTo; the scheme is not judged here.
func parseReferTo(v string) (referTarget, error) {
	if len(v) > maxReferTo {
		return referTarget{}, fmt.Errorf("%w: %d bytes", ErrBadReferTo, len(v))
	}
	s := strings.TrimSpace(v)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			return referTarget{}, fmt.Errorf("%w: unclosed < in %q", ErrBadReferTo, clip(s))
		}
		s = s[i+1 : i+j]
	} else if i := strings.IndexByte(s, ';'); i >= 0 {
		// RFC 3261 section 20: an addr-spec with ";" would have been put
		// in <>, so what follows belongs to the header.
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || scheme == "" || rest == "" || strings.ContainsAny(s, " \t\r\n") {
		return referTarget{}, fmt.Errorf("%w: %q is no URI", ErrBadReferTo, clip(s))
	}
	for i := 0; i < len(scheme); i++ {
		c := scheme[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return referTarget{}, fmt.Errorf("%w: scheme %q", ErrBadReferTo, clip(scheme))
		}
	}
	t := referTarget{scheme: strings.ToLower(scheme)}
	uri, hdrs, hasHdrs := strings.Cut(s, "?")
	t.uri = uri
	if hasHdrs {
		for _, kv := range strings.Split(hdrs, "&") {
			if kv == "" {
				continue
			}
			k, val, _ := strings.Cut(kv, "=")
			name, err1 := url.PathUnescape(k)
			value, err2 := url.PathUnescape(val)
			if err1 != nil || err2 != nil || name == "" {
				return referTarget{}, fmt.Errorf("%w: header %q", ErrBadReferTo, clip(kv))
			}
			t.headers = append(t.headers, uriHeader{name: name, value: value})
		}
	}
	switch t.scheme {
	case "sip", "sips":
		_, after, _ := strings.Cut(uri, ":")
		user, host, ok := strings.Cut(after, "@")
		if !ok {
			user, host = "", after
		}
		// A password (user:pw@host) is not part of the user.
		user, _, _ = strings.Cut(user, ":")
		if host == "" || strings.HasPrefix(host, ";") {
			return referTarget{}, fmt.Errorf("%w: %q has no host", ErrBadReferTo, clip(uri))
		}
		u, err := url.PathUnescape(user)
		if err != nil {
			return referTarget{}, fmt.Errorf("%w: user %q", ErrBadReferTo, clip(user))
		}
		t.user = u
	case "tel":
		// RFC 3966: tel:+49-30-1234;phone-context=...
		num, _, _ := strings.Cut(rest, ";")
		t.user = num
	}
	return t, nil
}
