package siptest

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// maxNetstring bounds one control message; baresip's are a few hundred
// bytes, so anything larger is a framing error, not a message.
const maxNetstring = 1 << 20

// readNetstring reads one netstring, "<len>:<payload>,"
// (https://cr.yp.to/proto/netstrings.txt), the framing of baresip's
// ctrl_tcp module.
func readNetstring(r *bufio.Reader) ([]byte, error) {
	n := 0
	digits := 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && digits > 0 {
				return nil, fmt.Errorf("%w: truncated length", ErrNetstring)
			}
			return nil, err
		}
		if c == ':' {
			break
		}
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("%w: byte %q in length", ErrNetstring, c)
		}
		// The spec forbids leading zeros only for readability; baresip
		// never sends them, and accepting them is harmless.
		digits++
		n = n*10 + int(c-'0')
		if n > maxNetstring {
			return nil, fmt.Errorf("%w: length over %d", ErrNetstring, maxNetstring)
		}
	}
	if digits == 0 {
		return nil, fmt.Errorf("%w: empty length", ErrNetstring)
	}
	b := make([]byte, n+1)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: truncated payload: %w", ErrNetstring, err)
	}
	if b[n] != ',' {
		return nil, fmt.Errorf("%w: payload not followed by ','", ErrNetstring)
	}
	return b[:n], nil
}

// appendNetstring appends payload framed as a netstring to dst.
func appendNetstring(dst, payload []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	dst = append(dst, ':')
	dst = append(dst, payload...)
	return append(dst, ',')
}
