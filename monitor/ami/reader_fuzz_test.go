package ami

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wireFromFixture renders a recorded JSON-array event log as the bytes a
// manager connection would carry.
func wireFromFixture(tb testing.TB, path string) []byte {
	tb.Helper()
	b := []byte("Asterisk Call Manager/5.0.1\r\n")
	for _, m := range fixtureEvents(tb, path) {
		var err error
		if b, err = AppendMessage(b, m); err != nil {
			tb.Fatal(err)
		}
	}
	return b
}

// fixtureEvents reads a recorded JSON-array event log as messages, in
// the order the recording keeps.
func fixtureEvents(tb testing.TB, path string) []Message {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []Message
	if err := decodeRecording(context.Background(), f, func(m Message) { out = append(out, m) }); err != nil {
		tb.Fatal(err)
	}
	return out
}

// FuzzReader feeds arbitrary bytes, whole and split in two, to the reader:
// it must never panic or loop, and every message it returns must survive
// a round trip through AppendMessage.
func FuzzReader(f *testing.F) {
	fixtures, _ := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	for _, p := range fixtures[:4] {
		// The head of a real stream: small seeds keep each run fast.
		b := wireFromFixture(f, p)[:4096]
		f.Add(b, len(b)/2)
	}
	f.Add([]byte("Asterisk Call Manager/5.0.1\r\nResponse: Success\r\nMessage: ok\r\n\r\n"), 10)
	f.Add([]byte("Event: A\r\nbroken\r\n\r\n"), 3)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		if split < 0 || split > len(data) {
			split = len(data) / 2
		}
		r := NewReader(io.MultiReader(strings.NewReader(string(data[:split])), strings.NewReader(string(data[split:]))))
		_, _ = r.ReadBanner()
		for i := 0; i < 10000; i++ {
			m, err := r.ReadMessage()
			if err != nil {
				if errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) {
					continue
				}
				return
			}
			b, err := AppendMessage(nil, m)
			if err != nil {
				t.Fatalf("a read message does not encode: %v", err)
			}
			again, err := NewReader(strings.NewReader(string(b))).ReadMessage()
			if err != nil || again.String() != m.String() {
				t.Fatalf("round trip changed %q into %q (%v)", m, again, err)
			}
		}
	})
}

func TestFixturesReadBack(t *testing.T) {
	fixtures, err := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	if err != nil || len(fixtures) != 21 {
		t.Fatalf("want 21 fixtures, got %d (%v)", len(fixtures), err)
	}
	for _, p := range fixtures {
		r := NewReader(strings.NewReader(string(wireFromFixture(t, p))))
		if _, err := r.ReadBanner(); err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			m, err := r.ReadMessage()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: message %d: %v", p, n, err)
			}
			if m.Event() == "" {
				t.Fatalf("%s: message %d has no Event", p, n)
			}
			n++
		}
		if n == 0 {
			t.Fatalf("%s: no events", p)
		}
	}
}
