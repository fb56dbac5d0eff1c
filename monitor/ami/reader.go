package ami

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits protect the reader from a peer that never ends a line or a
// message.
const (
	// MaxLineBytes bounds one line. Asterisk's own limit for a manager
	// line is far lower (1025 bytes in manager.c); generous here because
	// variables (VarSet) can be long.
	MaxLineBytes = 64 << 10
	// MaxFields bounds the fields of one message.
	MaxFields = 512
)

// Reader reads AMI messages from a stream.
type Reader struct {
	br     *bufio.Reader
	banner string
}

// NewReader returns a reader of r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 16<<10)}
}

// ReadBanner reads the greeting line every manager connection starts with,
// "Asterisk Call Manager/5.0.1", and returns its version part.
func (r *Reader) ReadBanner() (string, error) {
	line, err := r.readLine()
	if err != nil {
		return "", fmt.Errorf("ami banner: %w", err)
	}
	name, version, ok := strings.Cut(line, "/")
	if !ok || !strings.HasSuffix(name, "Call Manager") {
		return "", fmt.Errorf("%w: %q", ErrBanner, truncate(line))
	}
	r.banner = line
	return version, nil
}

// ReadMessage reads the next message. Empty lines between messages are
// skipped. A malformed line is reported with ErrMalformed after the rest of
// its message has been consumed, so the caller can log it, count it and
// read on: the stream stays in step. io.EOF is returned only between
// messages; a stream cut inside one gives io.ErrUnexpectedEOF.
func (r *Reader) ReadMessage() (Message, error) {
	var (
		msg Message
		bad error
	)
	for {
		line, err := r.readLine()
		if errors.Is(err, ErrTooLarge) {
			if bad == nil {
				bad = err
			}
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) && (len(msg) > 0 || bad != nil) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if line == "" {
			if len(msg) == 0 && bad == nil {
				continue
			}
			if bad != nil {
				return nil, bad
			}
			return msg, nil
		}
		if bad != nil {
			continue
		}
		if len(msg) >= MaxFields {
			bad = fmt.Errorf("%w: more than %d fields", ErrTooLarge, MaxFields)
			continue
		}
		f, err := parseField(line)
		if err != nil {
			bad = err
			continue
		}
		msg = append(msg, f)
	}
}

// parseField splits "Key: Value". The space after the colon is optional
// on the wire (some modules omit it); a value may itself hold colons.
func parseField(line string) (Field, error) {
	k, v, ok := strings.Cut(line, ":")
	k = strings.TrimSpace(k)
	// A bare CR inside a line is no AMI framing; refusing it keeps every
	// message re-encodable without smuggled line breaks.
	if !ok || k == "" || strings.ContainsAny(k, " \t") || strings.ContainsRune(line, '\r') {
		return Field{}, fmt.Errorf("%w: %q", ErrMalformed, truncate(line))
	}
	return Field{Key: k, Value: strings.TrimSpace(v)}, nil
}

// readLine returns one line without its CRLF or LF.
func (r *Reader) readLine() (string, error) {
	var buf []byte
	for {
		chunk, isPrefix, err := r.br.ReadLine()
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		if len(buf)+len(chunk) > MaxLineBytes {
			// Skip the rest of the line so the stream stays in step.
			for isPrefix {
				if _, isPrefix, err = r.br.ReadLine(); err != nil {
					return "", err
				}
			}
			return "", fmt.Errorf("%w: line over %d bytes", ErrTooLarge, MaxLineBytes)
		}
		if !isPrefix && buf == nil {
			return string(bytes.TrimRight(chunk, "\r")), nil
		}
		buf = append(buf, chunk...)
		if !isPrefix {
			return string(bytes.TrimRight(buf, "\r")), nil
		}
	}
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
