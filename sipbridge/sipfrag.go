package sipbridge

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// sipfrag is the status line of a message/sipfrag body (RFC 3420), as a
// REFER's NOTIFY carries it: how the referred request is doing (RFC 3515
// section 2.4.5), e.g. "SIP/2.0 180 Ringing".
type sipfrag struct {
	status int
	reason string
}

// maxSipfrag bounds a sipfrag body; a status line and a few headers are
// well under it.
const maxSipfrag = 8 << 10

// parseSipfrag reads the status line at the start of a message/sipfrag
// body. Header lines after it (RFC 3420 allows any part of a message)
// are ignored. A request line, a version other than SIP/x.y, or a status
// outside 100-699 fail with ErrBadSipfrag.
func parseSipfrag(b []byte) (sipfrag, error) {
	if len(b) > maxSipfrag {
		return sipfrag{}, fmt.Errorf("%w: %d bytes", ErrBadSipfrag, len(b))
	}
	// Leading blank lines are tolerated: some agents start the body with
	// the CRLF that ends the headers twice.
	b = bytes.TrimLeft(b, "\r\n \t")
	line, _, _ := bytes.Cut(b, []byte("\n"))
	l := strings.TrimRight(string(line), "\r \t")
	version, rest, ok := strings.Cut(l, " ")
	if !ok {
		return sipfrag{}, fmt.Errorf("%w: status line %q", ErrBadSipfrag, clip(l))
	}
	if !strings.HasPrefix(strings.ToUpper(version), "SIP/") || len(version) < 7 {
		return sipfrag{}, fmt.Errorf("%w: not a status line %q", ErrBadSipfrag, clip(l))
	}
	code, reason, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
	if len(code) != 3 {
		return sipfrag{}, fmt.Errorf("%w: status code %q", ErrBadSipfrag, clip(code))
	}
	n, err := strconv.Atoi(code)
	if err != nil || n < 100 || n > 699 {
		return sipfrag{}, fmt.Errorf("%w: status code %q", ErrBadSipfrag, clip(code))
	}
	return sipfrag{status: n, reason: strings.TrimSpace(reason)}, nil
}

// sipfragBody is the message/sipfrag body a NOTIFY of ours carries.
func sipfragBody(status int, reason string) []byte {
	return []byte("SIP/2.0 " + strconv.Itoa(status) + " " + reason + "\r\n")
}
