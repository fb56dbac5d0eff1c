package esl

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/textproto"
	"strconv"

	"github.com/percipia/eslgo"
)

// Content types of event socket messages.
const (
	TypeAuthRequest   = eslgo.TypeAuthRequest
	TypeReply         = eslgo.TypeReply
	TypeAPIResponse   = eslgo.TypeAPIResponse
	TypeEventPlain    = eslgo.TypeEventPlain
	TypeEventJSON     = eslgo.TypeEventJSON
	TypeDisconnect    = eslgo.TypeDisconnect
	TypeRudeRejection = "text/rude-rejection"
)

// Limits that keep a broken or hostile peer from exhausting memory. A
// FreeSWITCH channel event carries a few hundred headers of a few KiB.
const (
	maxLine    = 64 << 10
	maxHeaders = 4096
	maxBody    = 16 << 20
)

// Reader reads event socket messages: a block of "Name: value" lines ended
// by an empty line, then Content-Length bytes of body.
type Reader struct {
	br *bufio.Reader
}

// NewReader reads messages from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, maxLine)}
}

// Read returns the next message. A malformed message is an error; the
// stream cannot be resynchronised after one, so callers drop the link.
func (r *Reader) Read() (*eslgo.RawResponse, error) {
	h, err := readHeader(r.br, true)
	if err != nil {
		return nil, err
	}
	msg := &eslgo.RawResponse{Headers: h}
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("esl: bad Content-Length %q", cl)
		}
		if n > maxBody {
			return nil, fmt.Errorf("esl: body of %d bytes: %w", n, ErrTooLarge)
		}
		msg.Body = make([]byte, n)
		if _, err := io.ReadFull(r.br, msg.Body); err != nil {
			return nil, fmt.Errorf("esl: body: %w", noEOF(err))
		}
	}
	return msg, nil
}

// readHeader reads "Name: value" lines up to an empty line. Blank lines
// before a message are skipped when skipBlank is set (FreeSWITCH ends some
// bodies with an extra newline).
func readHeader(br *bufio.Reader, skipBlank bool) (textproto.MIMEHeader, error) {
	h := make(textproto.MIMEHeader)
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return nil, fmt.Errorf("esl: header line: %w", ErrTooLarge)
		}
		if err != nil {
			if err == io.EOF && len(line) == 0 && n == 0 {
				return nil, io.EOF
			}
			if err == io.EOF && len(bytes.TrimSpace(line)) == 0 && n > 0 {
				return h, nil // the last block of a body may lack its blank line
			}
			return nil, fmt.Errorf("esl: header: %w", noEOF(err))
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if n == 0 && skipBlank {
				continue
			}
			return h, nil
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(k) == 0 {
			return nil, fmt.Errorf("esl: malformed header line %q", truncate(line))
		}
		if n++; n > maxHeaders {
			return nil, fmt.Errorf("esl: more than %d headers: %w", maxHeaders, ErrTooLarge)
		}
		key := textproto.CanonicalMIMEHeaderKey(string(bytes.TrimSpace(k)))
		h[key] = append(h[key], string(bytes.TrimSpace(v)))
	}
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func truncate(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}
