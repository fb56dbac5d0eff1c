// Package flatjson reads recordings of PBX events: a stream of JSON
// objects, one per line or the elements of one top-level array, whose
// members are flat (strings, numbers, booleans, null). It decodes them
// without building a map or a string per member: the members of an
// object are substrings of one string made per buffer of input, so a
// replay of a recording allocates almost nothing per event.
//
// It reads RFC 8259 JSON; nested arrays and objects are passed on as
// their JSON text.
package flatjson

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// Kind is the JSON type of a member's value.
type Kind uint8

// Kinds of values.
const (
	String Kind = iota
	Number
	Bool
	Null
	// Array and Object values are given as their JSON text.
	Array
	Object
)

// Member is one "key": value of an object. Key and Value are decoded
// (escapes undone); a number, boolean or nested value is its JSON text,
// null is "".
type Member struct {
	Key, Value string
	Kind       Kind
}

// ErrSyntax is returned for input that is not a stream of JSON objects.
var ErrSyntax = errors.New("flatjson: syntax error")

// MaxObject bounds one object; a longer one is an error (ErrSyntax).
const MaxObject = 64 << 20

// Scanner reads objects from a stream.
type Scanner struct {
	r   io.Reader
	buf []byte
	pos int // next byte to look at
	end int // end of buffered data
	err error

	// chunk is a string copy of buf[cbase:cbase+len(chunk)]; members are
	// its substrings. cbase < 0 when buf moved since.
	chunk string
	cbase int

	scratch  []byte
	interned map[string]string

	mode    byte // 0 unknown, '{' objects one after another, '[' one array
	closed  bool // the array's ']' was read
	n       int  // objects read
	members []Member
}

// NewScanner returns a scanner of r.
func NewScanner(r io.Reader) *Scanner {
	return &Scanner{r: r, buf: make([]byte, 64<<10), cbase: -1}
}

// Next returns the members of the next object, in their order. The slice
// is reused by the next call; the strings in it stay valid. At the end
// of the stream it returns io.EOF; a stream cut inside an object gives
// io.ErrUnexpectedEOF, anything else that is no JSON object ErrSyntax;
// Count then says how many objects came before.
func (s *Scanner) Next() ([]Member, error) {
	for {
		start, ok, err := s.begin()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, io.EOF
		}
		members, next, err := s.object(start)
		if err == nil {
			s.pos = next
			s.n++
			return members, nil
		}
		if !errors.Is(err, errShort) {
			return nil, err
		}
		if err := s.more(start); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// Count is the number of objects read so far.
func (s *Scanner) Count() int { return s.n }

// errShort says the buffer ends inside the object.
var errShort = errors.New("short buffer")

// begin skips to the '{' of the next object and returns its offset;
// false at the end of the stream.
func (s *Scanner) begin() (int, bool, error) {
	for {
		for s.pos < s.end {
			c := s.buf[s.pos]
			switch {
			case c == ' ' || c == '\t' || c == '\n' || c == '\r':
				s.pos++
			case s.closed:
				return 0, false, fmt.Errorf("%w: %q after the array", ErrSyntax, c)
			case s.mode == 0 && c == '[':
				s.mode = '['
				s.pos++
			case s.mode == 0 && c == '{':
				s.mode = '{'
			case c == '{':
				return s.pos, true, nil
			case s.mode == '[' && c == ',' && s.n > 0:
				s.pos++
			case s.mode == '[' && c == ']':
				s.closed = true
				s.pos++
			default:
				return 0, false, fmt.Errorf("%w: %q where an object begins", ErrSyntax, c)
			}
		}
		if err := s.more(s.pos); err != nil {
			if errors.Is(err, io.EOF) {
				if s.mode == '[' && !s.closed {
					return 0, false, io.ErrUnexpectedEOF
				}
				return 0, false, nil
			}
			return 0, false, err
		}
	}
}

// more reads more input, keeping buf[keep:].
func (s *Scanner) more(keep int) error {
	if s.err != nil {
		return s.err
	}
	if keep > 0 {
		n := copy(s.buf, s.buf[keep:s.end])
		s.pos -= keep
		s.end = n
		s.cbase = -1
	}
	if s.end == len(s.buf) {
		if len(s.buf) >= MaxObject {
			s.err = fmt.Errorf("%w: an object over %d bytes", ErrSyntax, MaxObject)
			return s.err
		}
		nb := make([]byte, 2*len(s.buf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
		s.cbase = -1
	}
	n, err := s.r.Read(s.buf[s.end:])
	s.end += n
	if n > 0 {
		return nil
	}
	if err == nil {
		return nil // a reader may return nothing; ask again
	}
	s.err = err
	return err
}

// str returns buf[a:b] as a string sharing the chunk's memory.
func (s *Scanner) str(a, b int) string {
	if s.cbase < 0 || a < s.cbase || b > s.cbase+len(s.chunk) {
		s.chunk = string(s.buf[a:s.end])
		s.cbase = a
	}
	return s.chunk[a-s.cbase : b-s.cbase]
}

// object parses the object at buf[start]; it returns errShort when the
// buffer ends first.
func (s *Scanner) object(start int) ([]Member, int, error) {
	b := s.buf[:s.end]
	i := start + 1
	s.members = s.members[:0]
	i = skipSpace(b, i)
	if i < len(b) && b[i] == '}' {
		return s.members, i + 1, nil
	}
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return nil, 0, errShort
		}
		if b[i] != '"' {
			return nil, 0, fmt.Errorf("%w: %q where a key begins", ErrSyntax, b[i])
		}
		key, next, err := s.stringAt(b, i)
		if err != nil {
			return nil, 0, err
		}
		i = skipSpace(b, next)
		if i >= len(b) {
			return nil, 0, errShort
		}
		if b[i] != ':' {
			return nil, 0, fmt.Errorf("%w: %q after a key", ErrSyntax, b[i])
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return nil, 0, errShort
		}
		m := Member{Key: key}
		switch c := b[i]; {
		case c == '"':
			m.Value, i, err = s.stringAt(b, i)
		case c == '-' || (c >= '0' && c <= '9'):
			m.Kind = Number
			j := i
			for j < len(b) && isNumberByte(b[j]) {
				j++
			}
			if j == len(b) {
				return nil, 0, errShort
			}
			if !validNumber(b[i:j]) {
				return nil, 0, fmt.Errorf("%w: number %q", ErrSyntax, b[i:j])
			}
			m.Value, i = s.str(i, j), j
		case c == 't' || c == 'f' || c == 'n':
			word := "true"
			m.Kind = Bool
			switch c {
			case 'f':
				word = "false"
			case 'n':
				word, m.Kind = "null", Null
			}
			if len(b)-i < len(word) {
				return nil, 0, errShort
			}
			if string(b[i:i+len(word)]) != word {
				return nil, 0, fmt.Errorf("%w: literal at %q", ErrSyntax, b[i:i+len(word)])
			}
			if m.Kind == Bool {
				m.Value = word
			}
			i += len(word)
		case c == '[' || c == '{':
			m.Kind = Array
			if c == '{' {
				m.Kind = Object
			}
			var j int
			j, err = skipNested(b, i)
			if err == nil && !json.Valid(b[i:j]) {
				// Nested values are rare in recordings: the standard
				// library checks them.
				err = fmt.Errorf("%w: nested value %.40q", ErrSyntax, b[i:j])
			}
			if err == nil {
				m.Value, i = s.str(i, j), j
			}
		default:
			return nil, 0, fmt.Errorf("%w: %q where a value begins", ErrSyntax, c)
		}
		if err != nil {
			return nil, 0, err
		}
		s.members = append(s.members, m)
		i = skipSpace(b, i)
		if i >= len(b) {
			return nil, 0, errShort
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return s.members, i + 1, nil
		default:
			return nil, 0, fmt.Errorf("%w: %q after a value", ErrSyntax, b[i])
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// validNumber checks RFC 8259's number grammar.
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(b)
}

// stringAt decodes the JSON string whose quote is at b[i] and returns
// it and the offset after its closing quote.
func (s *Scanner) stringAt(b []byte, i int) (string, int, error) {
	j := i + 1
	// Eight bytes at a time while none is a quote, a backslash or a
	// control character.
	for ; j+8 <= len(b); j += 8 {
		x := binary.LittleEndian.Uint64(b[j:])
		if special(x) {
			break
		}
	}
	for ; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return s.str(i+1, j), j + 1, nil
		case c == '\\':
			// An escape: find the end, then decode into a string of its own.
			end, err := stringEnd(b, j)
			if err != nil {
				return "", 0, err
			}
			v, err := s.unescape(b[i+1 : end])
			if err != nil {
				return "", 0, err
			}
			return v, end + 1, nil
		case c < 0x20:
			return "", 0, fmt.Errorf("%w: control character in a string", ErrSyntax)
		}
	}
	return "", 0, errShort
}

// stringEnd returns the offset of the closing quote of a string, looking
// from b[j] on.
func stringEnd(b []byte, j int) (int, error) {
	for j < len(b) {
		switch b[j] {
		case '\\':
			j += 2
		case '"':
			return j, nil
		default:
			j++
		}
	}
	return 0, errShort
}

// special reports whether one of the eight bytes of x is a quote, a
// backslash or a control character (the classic "has zero byte" test).
func special(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	zero := func(v uint64) uint64 { return (v - ones) &^ v & highs }
	return (x-0x20*ones)&^x&highs|zero(x^('"'*ones))|zero(x^('\\'*ones)) != 0
}

// maxInterned bounds the decoded strings a scanner keeps: short values
// with escapes repeat ("<unknown>" as encoding/json writes it,
// "\u003cunknown\u003e"), and each would otherwise be a string of its own.
const maxInterned = 1024

// unescape decodes an escaped string, sharing the copies of short ones.
func (s *Scanner) unescape(b []byte) (string, error) {
	out, err := unescapeTo(s.scratch[:0], b)
	if err != nil {
		return "", err
	}
	s.scratch = out
	if len(out) > 32 || s.r == nil {
		// Decode reads one object: nothing to share with.
		return string(out), nil
	}
	if v, ok := s.interned[string(out)]; ok {
		return v, nil
	}
	v := string(out)
	if s.interned == nil {
		s.interned = map[string]string{}
	}
	if len(s.interned) < maxInterned {
		s.interned[v] = v
	}
	return v, nil
}

// unescapeTo appends the decoded b to out.
func unescapeTo(out, b []byte) ([]byte, error) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c < 0x20 {
			return nil, fmt.Errorf("%w: control character in a string", ErrSyntax)
		}
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(b) {
			return nil, fmt.Errorf("%w: escape at the end of a string", ErrSyntax)
		}
		switch b[i] {
		case '"', '\\', '/':
			out = append(out, b[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(b[i+1:])
			if !ok {
				return nil, fmt.Errorf("%w: bad \\u escape", ErrSyntax)
			}
			i += 4
			if utf16.IsSurrogate(r) {
				// A pair makes one rune; anything else is U+FFFD, as
				// encoding/json decodes it, and the next escape is read on
				// its own.
				dec := utf8.RuneError
				if i+2 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
					if r2, ok := hex4(b[i+3:]); ok {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							dec = d
							i += 6
						}
					}
				}
				r = dec
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, fmt.Errorf("%w: bad escape \\%c", ErrSyntax, b[i])
		}
	}
	return out, nil
}

// hex4 reads four hex digits.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipNested returns the offset after the array or object at b[i].
func skipNested(b []byte, i int) (int, error) {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			end, err := stringEnd(b, i+1)
			if err != nil {
				return 0, err
			}
			i = end + 1
			continue
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		}
		i++
	}
	return 0, errShort
}

// Decode decodes b, which must hold one JSON object and nothing else but
// white space, appending its members to dst[:0]; their strings share one
// copy of b.
func Decode(dst []Member, b []byte) ([]Member, error) {
	s := Scanner{buf: b, end: len(b), cbase: -1, members: dst[:0]}
	i := skipSpace(b, 0)
	if i >= len(b) {
		return nil, io.ErrUnexpectedEOF
	}
	if b[i] != '{' {
		return nil, fmt.Errorf("%w: %q where an object begins", ErrSyntax, b[i])
	}
	ms, next, err := s.object(i)
	if errors.Is(err, errShort) {
		return nil, io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	if j := skipSpace(b, next); j != len(b) {
		return nil, fmt.Errorf("%w: %q after the object", ErrSyntax, b[j])
	}
	return ms, nil
}
