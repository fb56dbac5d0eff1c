package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/switchboard/switchboard/monitor/fritz"
)

// What replay tells of its input: every record a source's replay reads is
// checked first, so that what it would skip in silence (a broken line, a
// recording of another PBX) is counted and shown with its line number.

// maxJSONRecord bounds one JSON event: far above what a PBX sends, low
// enough that a file without line breaks cannot take all memory.
const maxJSONRecord = 4 << 20

// maxReported is how many unreadable records the report shows.
const maxReported = 5

// badRecord is an input record replay could not read.
type badRecord struct {
	line int
	text string // the start of it, printable
	why  string
}

// inputReport counts a recording's records.
type inputReport struct {
	// unit names the records: "lines" or "events" (of a JSON array).
	unit      string
	good, bad int
	first     []badRecord
	// looks counts the unreadable records that look like the recordings
	// of another type (see recordingKinds).
	looks map[string]int
	// fatal, when set, is why the rest of the input was not read.
	fatal string
}

func (r *inputReport) note(line int, text []byte, why string) {
	r.bad++
	if len(r.first) < maxReported {
		r.first = append(r.first, badRecord{line: line, text: excerpt(text), why: why})
	}
	if k := sniffRecord(text); k != "" {
		r.looks[k]++
	}
}

// recordingKinds names the kinds of input replay recognises, in words.
var recordingKinds = map[string]string{
	"fritz":    "a Fritz!Box call-monitor recording",
	"ami":      "an Asterisk AMI recording",
	"esl":      "a FreeSWITCH event socket recording",
	"ami-text": "raw AMI protocol text",
	"esl-text": "raw event socket text",
	"json":     "JSON",
}

// hint is the --source to try for a recording that looks like kind.
func hint(kind string) string {
	switch kind {
	case "fritz", "ami", "esl":
		return "try --source " + kind
	case "ami-text":
		return "replay reads the JSON lines `switchboard record --ami` writes"
	case "esl-text":
		return "replay reads the JSON lines `switchboard record --esl` writes"
	}
	return "try --source ami or --source esl"
}

// write prints the report of unreadable records to w.
func (r *inputReport) write(w io.Writer, name string) {
	if r.bad == 0 && r.fatal == "" {
		return
	}
	if r.bad > 0 {
		fmt.Fprintf(w, "replay %s: %d of %d %s could not be read:\n", name, r.bad, r.good+r.bad, r.unit)
		for _, b := range r.first {
			fmt.Fprintf(w, "  line %d: %s (%s)\n", b.line, b.text, b.why)
		}
		if more := r.bad - len(r.first); more > 0 {
			fmt.Fprintf(w, "  … and %d more\n", more)
		}
	}
	if r.fatal != "" {
		fmt.Fprintf(w, "replay %s: %s\n", name, r.fatal)
	}
}

// verdict is the error of a replay that read nothing, or nil: the file is
// empty, or none of it is a recording of kind (and what it looks like
// instead, when that can be told).
func (r *inputReport) verdict(kind string) error {
	if r.good > 0 {
		return nil
	}
	if r.bad == 0 {
		if r.fatal != "" {
			return errors.New("nothing could be read")
		}
		return errors.New("no events: the input is empty")
	}
	msg := fmt.Sprintf("nothing could be read as %s", recordingKinds[kind])
	// The kind most records look like; JSON of no known kind only when
	// nothing names one (of a pretty-printed event, only the line with
	// its Event does).
	best, n := "", 0
	for k, c := range r.looks {
		if k != kind && k != "json" && (c > n || c == n && k < best) {
			best, n = k, c
		}
	}
	if best == "" && r.looks["json"] > 0 && kind == "fritz" {
		best = "json"
	}
	if best != "" {
		msg += fmt.Sprintf("; it looks like %s: %s", recordingKinds[best], hint(best))
	}
	return errors.New(msg)
}

// recordingFilter reads a recording and passes on, one per line, only
// the records a replay of its kind reads; the others go to the report.
// It is the io.Reader the source's replay gets.
type recordingFilter struct {
	next func() ([]byte, error) // the next good record; io.EOF at the end
	buf  []byte
	err  error
}

func (f *recordingFilter) Read(p []byte) (int, error) {
	for len(f.buf) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		rec, err := f.next()
		if err != nil {
			f.err = err
			continue
		}
		f.buf = append(append(f.buf[:0], rec...), '\n')
	}
	n := copy(p, f.buf)
	f.buf = f.buf[n:]
	return n, nil
}

// newRecordingFilter returns the filter of in for a replay of kind
// (fritz, ami or esl), counting into rep.
func newRecordingFilter(kind string, in io.Reader, rep *inputReport) io.Reader {
	rep.looks = map[string]int{}
	rep.unit = "lines"
	br := bufio.NewReaderSize(in, 64<<10)
	if kind == "fritz" {
		// Lines are read whole up to maxJSONRecord, so that a line too
		// long for a call monitor can still be recognised (a JSON event).
		lr := &lineReader{r: br, max: maxJSONRecord}
		return &recordingFilter{next: func() ([]byte, error) {
			for {
				line, n, err := lr.next()
				if err != nil {
					return nil, err
				}
				switch _, perr := fritz.ParseLine(line, time.Local); {
				case len(line) > fritz.MaxLineLength:
					rep.note(n, line, fmt.Sprintf("longer than %d bytes", fritz.MaxLineLength))
				case errors.Is(perr, fritz.ErrUnknownKind):
					rep.note(n, line, "not a RING, CALL, CONNECT or DISCONNECT line")
				case perr != nil:
					rep.note(n, line, "not a call-monitor line: "+strings.TrimPrefix(perr.Error(), fritz.ErrMalformed.Error()+": "))
				default:
					rep.good++
					return line, nil
				}
			}
		}}
	}
	check := checkAMI
	if kind == "esl" {
		check = checkESL
	}
	if first, err := peekNonSpace(br); err == nil && first == '[' {
		rep.unit = "events"
		return &recordingFilter{next: jsonArray(br, check, rep)}
	}
	return &recordingFilter{next: jsonLines(br, check, rep)}
}

// checkAMI says why rec is not an AMI event, or "".
func checkAMI(rec []byte) string {
	obj, ok := jsonObject(rec)
	if !ok {
		return "not a JSON object"
	}
	if s, ok := obj["Event"].(string); !ok || s == "" {
		return "no Event: not an AMI event"
	}
	return ""
}

// checkESL says why rec is not a FreeSWITCH event, or "".
func checkESL(rec []byte) string {
	obj, ok := jsonObject(rec)
	if !ok {
		return "not a JSON object"
	}
	for k, v := range obj {
		if s, ok := v.(string); ok && s != "" && textproto.CanonicalMIMEHeaderKey(k) == "Event-Name" {
			return ""
		}
	}
	return "no Event-Name: not a FreeSWITCH event"
}

func jsonObject(rec []byte) (map[string]any, bool) {
	var obj map[string]any
	if err := json.Unmarshal(rec, &obj); err != nil || obj == nil {
		return nil, false
	}
	return obj, true
}

// jsonLines reads JSON objects one per line; an object may span lines
// (pretty-printed), and a line that breaks off is reported and skipped.
func jsonLines(br *bufio.Reader, check func([]byte) string, rep *inputReport) func() ([]byte, error) {
	lr := &lineReader{r: br, max: maxJSONRecord}
	var acc []byte
	return func() ([]byte, error) {
		for {
			line, n, err := lr.next()
			if err != nil {
				return nil, err
			}
			if lr.tooLong {
				rep.note(n, line, fmt.Sprintf("longer than %d bytes", maxJSONRecord))
				continue
			}
			line = bytes.Clone(line) // reading on reuses the buffer
			start := n
			acc = append(acc[:0], line...)
			// An object over several lines (pretty-printed): read on while it
			// is unfinished. When it does not come right, its first line is
			// the broken one and the others are read again on their own.
			var more []pendingLine
			for bytes.HasPrefix(acc, []byte("{")) && len(acc) < maxJSONRecord {
				err := json.NewDecoder(bytes.NewReader(acc)).Decode(new(json.RawMessage))
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					break
				}
				next, m, err := lr.next()
				if err != nil {
					break
				}
				more = append(more, pendingLine{text: bytes.Clone(next), n: m})
				acc = append(append(acc, '\n'), next...)
			}
			if len(more) > 0 && !json.Valid(acc) {
				lr.unread(more)
				acc = append(acc[:0], line...)
			}
			dec := json.NewDecoder(bytes.NewReader(acc))
			var rec json.RawMessage
			switch err := dec.Decode(&rec); {
			case err != nil:
				rep.note(start, line, "not JSON: "+jsonReason(err))
			case !bytes.HasPrefix(rec, []byte("{")):
				rep.note(start, line, "not a JSON object")
			case dec.InputOffset() != int64(len(acc)):
				rep.note(start, line, "more than one value on the line")
			default:
				if why := check(rec); why != "" {
					rep.note(start, line, why)
					continue
				}
				rep.good++
				return oneLine(rec), nil
			}
		}
	}
}

// jsonArray reads a JSON array of events (as cacofonisk's fixtures are);
// broken JSON ends it, at its line.
func jsonArray(br *bufio.Reader, check func([]byte) string, rep *inputReport) func() ([]byte, error) {
	lc := &lineCounter{r: br, line: 1}
	dec := json.NewDecoder(lc)
	started := false
	fail := func(err error) ([]byte, error) {
		var se *json.SyntaxError
		line := 0
		if errors.As(err, &se) {
			line = lc.lineAt(se.Offset - 1)
		} else {
			line = lc.lastLine() // it ends in the middle: at its end
		}
		rep.fatal = fmt.Sprintf("line %d: the JSON breaks off here (%s); the rest is not read", line, jsonReason(err))
		return nil, io.EOF
	}
	return func() ([]byte, error) {
		if !started {
			started = true
			if _, err := dec.Token(); err != nil {
				return fail(err)
			}
		}
		for dec.More() {
			var rec json.RawMessage
			if err := dec.Decode(&rec); err != nil {
				return fail(err)
			}
			end := dec.InputOffset()
			line := lc.lineAt(end - int64(len(rec)))
			if why := check(rec); why != "" {
				rep.note(line, firstLine(rec), why)
				continue
			}
			rep.good++
			return oneLine(rec), nil
		}
		if _, err := dec.Token(); err != nil {
			return fail(err)
		}
		return nil, io.EOF
	}
}

// jsonReason puts a JSON decoding error in words.
func jsonReason(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "it ends in the middle"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// lineReader reads lines, without their line endings and skipping blank
// ones; a line longer than max is cut short (tooLong), the rest of it
// skipped.
type lineReader struct {
	r       *bufio.Reader
	max     int
	n       int // the number of the line last read
	tooLong bool
	buf     []byte
	pending []pendingLine // read again before r
}

// pendingLine is a line given back to a lineReader.
type pendingLine struct {
	text []byte
	n    int
}

// unread gives lines back, to be read again in order before the rest.
func (l *lineReader) unread(lines []pendingLine) {
	l.pending = append(slices.Clone(lines), l.pending...)
}

func (l *lineReader) next() ([]byte, int, error) {
	if len(l.pending) > 0 {
		p := l.pending[0]
		l.pending = l.pending[1:]
		l.tooLong = false
		return p.text, p.n, nil
	}
	for {
		l.buf, l.tooLong = l.buf[:0], false
		var err error
		for {
			var chunk []byte
			chunk, err = l.r.ReadSlice('\n')
			if len(l.buf) < l.max+2 { // room for the CR LF
				l.buf = append(l.buf, chunk[:min(len(chunk), l.max+2-len(l.buf))]...)
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, err
		}
		if len(l.buf) == 0 && errors.Is(err, io.EOF) {
			return nil, 0, io.EOF
		}
		l.n++
		line := bytes.TrimRight(l.buf, "\r\n")
		if len(line) > l.max {
			l.tooLong = true
			line = line[:l.max]
		}
		if len(bytes.TrimSpace(line)) > 0 {
			return line, l.n, nil
		}
		if errors.Is(err, io.EOF) {
			return nil, 0, io.EOF
		}
	}
}

// lineCounter passes a reader on and tells the line of any byte it has
// passed since the last question; the questions' offsets only grow, so
// it keeps just the bytes in between.
type lineCounter struct {
	r    io.Reader
	kept []byte // the bytes from offset at on
	at   int64
	line int // the line of byte at, from 1
}

func (c *lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.kept = append(c.kept, p[:n]...)
	return n, err
}

// lineAt returns the line of byte off.
func (c *lineCounter) lineAt(off int64) int {
	n := int(min(max(off-c.at, 0), int64(len(c.kept))))
	c.line += bytes.Count(c.kept[:n], []byte{'\n'})
	c.kept = c.kept[n:]
	c.at += int64(n)
	return c.line
}

// lastLine returns the line of the last byte read.
func (c *lineCounter) lastLine() int {
	if len(c.kept) == 0 {
		return c.line
	}
	return c.line + bytes.Count(c.kept[:len(c.kept)-1], []byte{'\n'})
}

func peekNonSpace(br *bufio.Reader) (byte, error) {
	for i := 1; ; i++ {
		b, err := br.Peek(i)
		if len(b) < i {
			return 0, err
		}
		if c := b[i-1]; !unicode.IsSpace(rune(c)) {
			return c, nil
		}
		if i >= br.Size() {
			return 0, bufio.ErrBufferFull
		}
	}
}

// sniffRecord says what an unreadable record looks like: a Fritz!Box
// line, an AMI or FreeSWITCH event (as JSON, or as the protocols' own
// text), JSON of some other kind; "" when nothing.
func sniffRecord(rec []byte) string {
	if _, err := fritz.ParseLine(rec, time.Local); err == nil {
		return "fritz"
	}
	t := bytes.TrimSpace(rec)
	switch {
	case bytes.HasPrefix(t, []byte("Event-Name: ")):
		return "esl-text"
	case bytes.HasPrefix(t, []byte("Event: ")):
		return "ami-text"
	// A line of a pretty-printed event names its kind.
	case bytes.HasPrefix(t, []byte(`"Event-Name":`)):
		return "esl"
	case bytes.HasPrefix(t, []byte(`"Event":`)):
		return "ami"
	}
	// A line of a JSON array holds one event and a comma.
	if obj := bytes.TrimSuffix(t, []byte(",")); json.Valid(obj) && bytes.HasPrefix(obj, []byte("{")) {
		switch {
		case checkESL(obj) == "":
			return "esl"
		case checkAMI(obj) == "":
			return "ami"
		}
		return "json"
	}
	if len(t) > 0 && strings.ContainsRune("[]{}", rune(t[0])) || bytes.HasPrefix(t, []byte(`"`)) && bytes.Contains(t, []byte(`":`)) {
		return "json"
	}
	return ""
}

// oneLine returns a JSON record on one line: a pretty-printed event
// compacted.
func oneLine(rec []byte) []byte {
	if !bytes.ContainsAny(rec, "\r\n") {
		return rec
	}
	var b bytes.Buffer
	if err := json.Compact(&b, rec); err != nil {
		return rec // checked valid before; cannot happen
	}
	return b.Bytes()
}

// firstLine is rec up to its first line break.
func firstLine(rec []byte) []byte {
	if i := bytes.IndexByte(rec, '\n'); i >= 0 {
		return rec[:i]
	}
	return rec
}

// excerpt is the start of b, printable, for the report.
func excerpt(b []byte) string {
	const max = 60
	s := strings.ToValidUTF8(string(bytes.TrimSpace(b)), "�")
	s = strings.Map(func(r rune) rune {
		if r == '\t' {
			return ' '
		}
		if unicode.IsControl(r) {
			return '�'
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return s
}
