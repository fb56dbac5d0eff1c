package esl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"strings"

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
	// maxSkip bounds a body the reader skips rather than reads: past it a
	// Content-Length is taken for garbage, not a message to step over.
	maxSkip = 1 << 30
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

// Read returns the next message.
//
// A message the reader cannot take whole is consumed to its end and
// reported, beside the headers that could be read, with ErrMalformed (a
// header line without a colon) or ErrTooLarge (a header line over 64 KiB,
// more than 4096 headers, a body over 16 MiB): the framing — headers up
// to an empty line, then Content-Length bytes — still says where the next
// message starts, so the stream stays in step and the caller may read on.
// Where it does not, the error wraps ErrFraming and the stream is lost:
// an unreadable or absurd (over 1 GiB) Content-Length, or an over-long
// Content-Length line, leaves no way to find the next message. Only a
// skipped message comes with a non-nil msg beside its error.
func (r *Reader) Read() (*eslgo.RawResponse, error) {
	h, bad, err := readHeader(r.br, true)
	if err != nil {
		return nil, err
	}
	msg := &eslgo.RawResponse{Headers: h}
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		switch {
		case err != nil || n < 0:
			return nil, fmt.Errorf("esl: %w: bad Content-Length %q", ErrFraming, truncate([]byte(cl)))
		case n > maxSkip:
			return nil, fmt.Errorf("esl: %w: Content-Length %d", ErrFraming, n)
		case n > maxBody:
			if _, err := io.CopyN(io.Discard, r.br, int64(n)); err != nil {
				return nil, fmt.Errorf("esl: body: %w", noEOF(err))
			}
			return msg, fmt.Errorf("esl: body of %d bytes skipped: %w", n, ErrTooLarge)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r.br, body); err != nil {
			return nil, fmt.Errorf("esl: body: %w", noEOF(err))
		}
		if bad == nil {
			msg.Body = body
		}
	}
	if bad != nil {
		return msg, bad
	}
	return msg, nil
}

// readHeader reads "Name: value" lines up to an empty line. Blank lines
// before a message are skipped when skipBlank is set (FreeSWITCH ends some
// bodies with an extra newline). A bad line does not stop it: bad says
// what was wrong once the block has been read to its end.
func readHeader(br *bufio.Reader, skipBlank bool) (h textproto.MIMEHeader, bad, err error) {
	h = make(textproto.MIMEHeader)
	n := 0
	for {
		line, long, err := readLine(br)
		if err != nil && long {
			return nil, nil, fmt.Errorf("esl: header line over %d bytes: %w: %w", maxLine, ErrTooLarge, noEOF(err))
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(line) == 0 && n == 0 && bad == nil {
				return nil, nil, io.EOF
			}
			if errors.Is(err, io.EOF) && len(bytes.TrimSpace(line)) == 0 && n > 0 {
				return h, bad, nil // the last block of a body may lack its blank line
			}
			return nil, nil, fmt.Errorf("esl: header: %w", noEOF(err))
		}
		if long {
			if hasPrefixFold(line, "content-length") {
				return nil, nil, fmt.Errorf("esl: %w: Content-Length line over %d bytes", ErrFraming, maxLine)
			}
			if bad == nil {
				bad = fmt.Errorf("esl: header line over %d bytes: %w", maxLine, ErrTooLarge)
			}
			n++
			continue
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if n == 0 && skipBlank {
				continue
			}
			return h, bad, nil
		}
		if n++; n > maxHeaders {
			if bad == nil {
				bad = fmt.Errorf("esl: more than %d headers: %w", maxHeaders, ErrTooLarge)
			}
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(k) == 0 {
			if bad == nil {
				bad = fmt.Errorf("esl: %w: header line %q", ErrMalformed, truncate(line))
			}
			continue
		}
		key := canonicalKey(bytes.TrimSpace(k))
		h[key] = append(h[key], string(bytes.TrimSpace(v)))
	}
}

// readLine returns the next line with its line ending. A line longer
// than the buffer is consumed to its newline and returned as its first
// bufferful with long set.
func readLine(br *bufio.Reader) (line []byte, long bool, err error) {
	line, err = br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, false, err
	}
	head := append([]byte(nil), line[:min(len(line), 64)]...)
	for errors.Is(err, bufio.ErrBufferFull) {
		_, err = br.ReadSlice('\n')
	}
	return head, true, err
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
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
