package fritz

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// FuzzParseLine feeds the parser arbitrary lines (seeded from the
// recordings in testdata) and whole streams split in two through the line
// reader and the tracker: nothing may panic, every error must be one of
// the sentinels, and every accepted line must format back to a line that
// parses to the same value.
func FuzzParseLine(f *testing.F) {
	for _, name := range []string{"testdata/lines.txt", "testdata/calls.txt", "testdata/demo.txt"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			f.Add(line, 0)
		}
		f.Add(b, len(b)/2)
	}
	long := bytes.Repeat([]byte("9"), MaxLineLength+1)
	f.Add(append(append([]byte("23.11.26 10:15:03;RING;0;"), long...), "\r\n23.11.26 10:15:09;DISCONNECT;0;0;\n"...), 30)
	f.Fuzz(func(t *testing.T, in []byte, split int) {
		l, err := ParseLine(in, time.UTC)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKind) {
				t.Fatalf("ParseLine(%q): error %v is no sentinel", in, err)
			}
		} else {
			again, err := ParseLine([]byte(l.String()), time.UTC)
			if err != nil {
				t.Fatalf("ParseLine(%q) = %+v, whose String %q does not parse: %v", in, l, l.String(), err)
			}
			if again != l {
				t.Fatalf("round trip of %q: %+v != %+v", in, again, l)
			}
		}
		// The same bytes as a stream, delivered in two reads.
		if split < 0 || split > len(in) {
			split = len(in) / 2
		}
		tr := NewTracker("fuzz", nil, time.UTC, nil)
		r := &twoReads{a: in[:split], b: in[split:]}
		if err := readLines(r, func(line []byte) error { _ = tr.Handle(line); return nil }); err != nil {
			t.Fatalf("readLines: %v", err)
		}
		// The live connection's splitter: the same lines whichever way
		// the bytes arrive, none over MaxLineLength, none blank.
		split2 := func(parts ...[]byte) (lines []string, long int) {
			var ls lineSplitter
			for _, p := range parts {
				ls.feed(p, func(b []byte) { lines = append(lines, string(b)) }, func(error) { long++ })
			}
			return lines, long
		}
		whole, wholeLong := split2(in)
		parts, partsLong := split2(in[:split], in[split:])
		if len(whole) != len(parts) || wholeLong != partsLong {
			t.Fatalf("splitter: %d lines (%d too long) whole, %d (%d) in two reads", len(whole), wholeLong, len(parts), partsLong)
		}
		for i, l := range whole {
			if l != parts[i] || len(l) > MaxLineLength || len(bytes.TrimSpace([]byte(l))) == 0 {
				t.Fatalf("splitter line %d: %q whole, %q in two reads", i, l, parts[i])
			}
		}
	})
}

// twoReads returns a, then b, then EOF.
type twoReads struct{ a, b []byte }

func (r *twoReads) Read(p []byte) (int, error) {
	switch {
	case len(r.a) > 0:
		n := copy(p, r.a)
		r.a = r.a[n:]
		return n, nil
	case len(r.b) > 0:
		n := copy(p, r.b)
		r.b = r.b[n:]
		return n, nil
	}
	return 0, io.EOF
}
