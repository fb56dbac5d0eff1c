package ami

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
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
//
// It keeps its own buffer and makes one string of each stretch of input
// it has read, whose substrings the messages' keys and values are, and
// hands out fields from larger slices: reading a message allocates
// nothing of its own most of the time. A message stays valid for as long
// as it is kept; it pins the input it was read from.
type Reader struct {
	r        io.Reader
	buf      []byte
	pos, end int   // unread input is buf[pos:end]
	err      error // the read error that ended the input, once seen
	// mark is where the message being read begins in buf (-1: none yet),
	// spans its fields relative to mark.
	mark  int
	spans []span
	// chunk is a string copy of buf[cbase:cbase+len(chunk)]; cbase < 0
	// when buf moved since.
	chunk string
	cbase int
	slab  []Field
	// full: the last read filled the buffer.
	full bool
	// crs counts the CRs line trimmed off the ends of the message's lines.
	crs int
}

type span struct{ k0, k1, v0, v1 int }

// NewReader returns a reader of r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r, buf: make([]byte, 4<<10), mark: -1, cbase: -1}
}

// ReadBanner reads the greeting line every manager connection starts with,
// "Asterisk Call Manager/5.0.1", and returns its version part.
func (r *Reader) ReadBanner() (string, error) {
	a, b, long, err := r.line()
	if err == nil && long {
		err = fmt.Errorf("%w: line over %d bytes", ErrTooLarge, MaxLineBytes)
	}
	if err != nil {
		return "", fmt.Errorf("ami banner: %w", err)
	}
	line := string(r.buf[a:b])
	name, version, ok := strings.Cut(line, "/")
	if !ok || !strings.HasSuffix(name, "Call Manager") {
		return "", fmt.Errorf("%w: %q", ErrBanner, truncate(line))
	}
	return version, nil
}

// ReadMessage reads the next message. Empty lines between messages are
// skipped. A malformed line is reported with ErrMalformed after the rest of
// its message has been consumed, so the caller can log it, count it and
// read on: the stream stays in step. io.EOF is returned only between
// messages; a stream cut inside one gives io.ErrUnexpectedEOF.
func (r *Reader) ReadMessage() (Message, error) {
	r.mark = -1
	r.spans = r.spans[:0]
	var bad error
	for {
		before := r.crs
		a, b, long, err := r.line()
		if err != nil {
			if errors.Is(err, io.EOF) && (len(r.spans) > 0 || bad != nil) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if long {
			if bad == nil {
				bad = fmt.Errorf("%w: line over %d bytes", ErrTooLarge, MaxLineBytes)
			}
			r.mark = -1 // nothing of it will be kept
			continue
		}
		if a == b {
			if len(r.spans) == 0 && bad == nil {
				continue
			}
			if bad != nil {
				return nil, bad
			}
			// Every CR of the message must be one of its line ends: one
			// count over the message instead of a search of every line.
			if bytes.Count(r.buf[r.mark:r.pos], cr) != r.crs {
				return nil, r.bareCR()
			}
			return r.build(), nil
		}
		if bad != nil {
			continue
		}
		if len(r.spans) >= MaxFields {
			bad = fmt.Errorf("%w: more than %d fields", ErrTooLarge, MaxFields)
			r.mark = -1
			continue
		}
		if r.mark < 0 {
			r.mark = a
			r.crs -= before // the CRs of this line only
		}
		sp, ok := parseField(r.buf[a:b])
		if !ok {
			bad = fmt.Errorf("%w: %q", ErrMalformed, truncate(string(r.buf[a:b])))
			r.mark = -1
			continue
		}
		off := a - r.mark
		r.spans = append(r.spans, span{sp.k0 + off, sp.k1 + off, sp.v0 + off, sp.v1 + off})
	}
}

// bareCR is the error for the message at mark, read to pos, whose
// lines hold a CR that ends none.
func (r *Reader) bareCR() error {
	rest := r.buf[r.mark:r.pos]
	for len(rest) > 0 {
		line := rest
		if k := bytes.IndexByte(rest, '\n'); k >= 0 {
			line, rest = rest[:k], rest[k+1:]
		} else {
			rest = nil
		}
		if t := bytes.TrimRight(line, "\r"); bytes.IndexByte(t, '\r') >= 0 {
			return fmt.Errorf("%w: %q", ErrMalformed, truncate(string(t)))
		}
	}
	return fmt.Errorf("%w: a CR inside a line", ErrMalformed)
}

// build makes the message whose fields are r.spans.
func (r *Reader) build() Message {
	n := len(r.spans)
	if cap(r.slab)-len(r.slab) < n {
		r.slab = make([]Field, 0, max(256, n))
	}
	m := r.slab[len(r.slab) : len(r.slab)+n : len(r.slab)+n]
	r.slab = r.slab[:len(r.slab)+n]
	last := r.spans[n-1]
	s := r.str(r.mark, r.mark+last.v1)
	for i, sp := range r.spans {
		m[i] = Field{Key: s[sp.k0:sp.k1], Value: s[sp.v0:sp.v1]}
	}
	return m
}

// str returns buf[a:b] as a string sharing the chunk's memory; a new
// chunk covers all input read so far from a on.
func (r *Reader) str(a, b int) string {
	if r.cbase < 0 || a < r.cbase || b > r.cbase+len(r.chunk) {
		r.chunk = string(r.buf[a:r.end])
		r.cbase = a
	}
	return r.chunk[a-r.cbase : b-r.cbase]
}

// byteClass sorts the bytes of a header line for parseField.
var byteClass = func() (t [256]uint8) {
	for _, c := range []byte(" \t\n\v\f") {
		t[c] = classSpace
	}
	t['\r'] = classCR
	t[':'] = classColon
	return t
}()

const (
	classWord uint8 = iota
	classSpace
	classCR
	classColon
)

// parseField splits "Key: Value" (offsets into line). The space after
// the colon is optional on the wire (some modules omit it); a value may
// itself hold colons; the key is one word, white space around it
// dropped.
// A bare CR inside a line is no AMI framing; refusing it keeps every
// message re-encodable without smuggled line breaks. Only the key is
// checked here: the reader checks a whole message's values at once.
func parseField(line []byte) (span, bool) {
	// The common case: a key of word characters right up to the colon.
	if c := bytes.IndexByte(line, ':'); c > 0 && !anySpace(line[:c]) {
		return valueSpan(line, 0, c, c)
	}
	k0, k1, c := -1, -1, -1
key:
	for i, ch := range line {
		switch byteClass[ch] {
		case classWord:
			if k1 >= 0 {
				return span{}, false // white space inside the key
			}
			if k0 < 0 {
				k0 = i
			}
		case classSpace:
			if k0 >= 0 && k1 < 0 {
				k1 = i
			}
		case classCR:
			return span{}, false
		default:
			c = i
			break key
		}
	}
	if c < 0 || k0 < 0 {
		return span{}, false
	}
	if k1 < 0 {
		k1 = c
	}
	return valueSpan(line, k0, k1, c)
}

// valueSpan completes the span of a field whose key is line[k0:k1] and
// colon at c.
func valueSpan(line []byte, k0, k1, c int) (span, bool) {
	v0, v1 := c+1, len(line)
	if v0 < v1 && line[v0] == ' ' {
		v0++
	}
	if v0 == v1 || (line[v0] > ' ' && line[v0] < 0x80 && line[v1-1] > ' ' && line[v1-1] < 0x80) {
		return span{k0, k1, v0, v1}, true
	}
	v0, v1 = trimSpace(line, v0, v1)
	return span{k0, k1, v0, v1}, true
}

// trimSpace narrows line[a:b] as strings.TrimSpace would.
func trimSpace(line []byte, a, b int) (int, int) {
	for a < b && asciiSpace(line[a]) {
		a++
	}
	for b > a && asciiSpace(line[b-1]) {
		b--
	}
	if a < b && (line[a] >= 0x80 || line[b-1] >= 0x80) {
		// Unicode white space at an end: trim as strings.TrimSpace does.
		t := string(line[a:b])
		rest := strings.TrimLeftFunc(t, unicode.IsSpace)
		lead := len(t) - len(rest)
		return a + lead, a + lead + len(strings.TrimRightFunc(rest, unicode.IsSpace))
	}
	return a, b
}

// anySpace reports whether b holds a byte up to ' ' (white space, a CR,
// any control character), eight bytes at a time.
func anySpace(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		// A byte below 0x21 turns its high bit on in x - 0x21..21 where
		// it was off in x.
		if (x-0x21*ones)&^x&highs != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c <= ' ' {
			return true
		}
	}
	return false
}

func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// line consumes the next line and returns where its text, without CRLF
// or LF, is in buf; long says it was over MaxLineBytes and is gone. At
// the end of the input a last line without its newline is a line, then
// io.EOF follows; a line cut by a read error gives that error.
func (r *Reader) line() (a, b int, long bool, err error) {
	skipping := false
	for {
		if k := bytes.IndexByte(r.buf[r.pos:r.end], '\n'); k >= 0 {
			a, b = r.pos, r.pos+k
			r.pos = b + 1
			if skipping {
				return a, a, true, nil
			}
			for b > a && r.buf[b-1] == '\r' {
				b--
				r.crs++
			}
			return a, b, b-a > MaxLineBytes, nil
		}
		if r.end-r.pos > MaxLineBytes+1 {
			// Over-long: drop what there is of it and read on to its end,
			// so the stream stays in step.
			skipping = true
			r.pos = r.end
			r.mark = -1 // its message is lost: keep none of it
		}
		if r.err != nil {
			if r.pos < r.end && !skipping {
				a, b = r.pos, r.end
				r.pos = r.end
				for b > a && r.buf[b-1] == '\r' {
					b--
					r.crs++
				}
				return a, b, b-a > MaxLineBytes, nil
			}
			if skipping || r.pos < r.end {
				return 0, 0, false, io.ErrUnexpectedEOF
			}
			return 0, 0, false, r.err
		}
		r.fill()
	}
}

// fill reads more input, keeping the message being read (from mark) and
// the line being read (from pos).
func (r *Reader) fill() {
	keep := r.pos
	if r.mark >= 0 && r.mark < keep {
		keep = r.mark
	}
	if keep > 0 {
		n := copy(r.buf, r.buf[keep:r.end])
		r.end = n
		r.pos -= keep
		if r.mark >= 0 {
			r.mark -= keep
		}
		r.cbase = -1
	}
	if r.end == len(r.buf) || (r.full && len(r.buf) < 64<<10) {
		// Full of a message being read, or the input comes faster than it
		// fits: read in larger pieces.
		nb := make([]byte, 2*len(r.buf))
		copy(nb, r.buf[:r.end])
		r.buf = nb
		r.cbase = -1
	} else if len(r.buf) > 256<<10 && r.end < 16<<10 {
		// A huge message made the buffer grow; shrink back once it is read.
		nb := make([]byte, 64<<10)
		copy(nb, r.buf[:r.end])
		r.buf = nb
		r.cbase = -1
	}
	for tries := 0; tries < 100; tries++ {
		n, err := r.r.Read(r.buf[r.end:])
		r.full = r.end+n == len(r.buf)
		r.end += n
		if err != nil {
			r.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.err = io.ErrNoProgress
}

var cr = []byte{'\r'}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
