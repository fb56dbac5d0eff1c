package history

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

func TestReadSpool(t *testing.T) {
	good, err := os.ReadFile("testdata/spool/good.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	long := append(append([]byte(`{"at":"2026-11-23T09:00:00Z","call":{"id":"x:1","source":"x","vars":{"k":"`), bytes.Repeat([]byte("v"), maxSpoolLine)...), `"}}}`+"\n"...)
	tests := []struct {
		name      string
		file      string
		data      []byte
		lines     int
		bad       int
		torn      bool
		firstCall monitor.CallID
	}{
		{name: "three changes", file: "good.jsonl", lines: 3, firstCall: "home:0-17.1"},
		{name: "a write cut short by a crash", file: "torn.jsonl", lines: 1, bad: 1, torn: true, firstCall: "home:0-17.1"},
		{name: "damaged and empty lines", file: "damaged.jsonl", lines: 2, bad: 2, firstCall: "home:0-17.1"},
		{name: "empty", data: []byte{}, lines: 0},
		{name: "a line over the limit is skipped", data: append(append([]byte(nil), long...), good...), lines: 3, bad: 1, firstCall: "home:0-17.1"},
		{name: "an unended line over the limit", data: append(append([]byte(nil), good...), long[:len(long)-1]...), lines: 3, bad: 1, torn: true, firstCall: "home:0-17.1"},
		{name: "carriage returns and blanks", data: []byte("\r\n\n" + strings.ReplaceAll(string(good), "\n", "\r\n")), lines: 3, firstCall: "home:0-17.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data
			if tt.file != "" {
				var err error
				if data, err = os.ReadFile(filepath.Join("testdata/spool", tt.file)); err != nil {
					t.Fatal(err)
				}
			}
			lines, bad, torn, err := readSpool(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) != tt.lines || bad != tt.bad || torn != tt.torn {
				t.Fatalf("%d lines, %d bad, torn %v; want %d, %d, %v", len(lines), bad, torn, tt.lines, tt.bad, tt.torn)
			}
			if len(lines) > 0 {
				ch, err := decodeChange(lines[0])
				if err != nil || ch.Call.ID != tt.firstCall {
					t.Fatalf("first change %+v %v", ch, err)
				}
			}
		})
	}
}

func testChange(key string, state monitor.State, at time.Time) change {
	c := ended("home", key, 0, monitor.Inbound, false, "0301", "5551")
	c.State = state
	return change{At: at, Call: c}
}

func TestSpoolAppendDoneAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.spool")
	sp, bad, err := openSpool(path, 1<<20)
	if err != nil || bad != 0 {
		t.Fatal(bad, err)
	}
	for i, k := range []string{"a", "b", "c", "d"} {
		if err := sp.append(testChange(k, monitor.Ended, t0.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	if n, size, full := sp.stats(); n != 4 || size == 0 || full {
		t.Fatalf("stats %d %d %v", n, size, full)
	}
	// The first two are saved: the file holds the other two.
	if left, err := sp.done(2); err != nil || left != 2 {
		t.Fatalf("done(2) = %d, %v", left, err)
	}
	if err := sp.append(testChange("e", monitor.Ringing, t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if err := sp.close(); err != nil {
		t.Fatal(err)
	}
	sp, bad, err = openSpool(path, 1<<20)
	if err != nil || bad != 0 {
		t.Fatal(bad, err)
	}
	var keys []string
	for _, l := range sp.pending() {
		ch, err := decodeChange(l)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, string(ch.Call.ID))
	}
	if strings.Join(keys, " ") != "home:c home:d home:e" {
		t.Fatalf("after reopen: %v", keys)
	}
	if left, err := sp.done(3); err != nil || left != 0 {
		t.Fatalf("done(3) = %d, %v", left, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Fatalf("spool file after all saved: %v %v", fi, err)
	}
	// Appends after the cut start at the beginning, not after a hole.
	if err := sp.append(testChange("f", monitor.Ended, t0)); err != nil {
		t.Fatal(err)
	}
	sp.close()
	if b, _ := os.ReadFile(path); bytes.Count(b, []byte("\n")) != 1 || b[0] != '{' {
		t.Fatalf("spool file %q", b)
	}
}

func TestSpoolIsBounded(t *testing.T) {
	line, err := encodeChange(testChange("a", monitor.Ended, t0))
	if err != nil {
		t.Fatal(err)
	}
	sp, _, err := openSpool(filepath.Join(t.TempDir(), "h.spool"), int64(2*len(line)+len(line)/2))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	for i := range 2 {
		if err := sp.append(testChange("a", monitor.Ended, t0)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if err := sp.append(testChange("a", monitor.Ended, t0)); !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("third append = %v, want ErrSpoolFull", err)
	}
	if _, _, full := sp.stats(); !full {
		t.Fatal("not full")
	}
	if _, err := sp.done(1); err != nil {
		t.Fatal(err)
	}
	if _, _, full := sp.stats(); full {
		t.Fatal("still full after it shrank")
	}
	if err := sp.append(testChange("a", monitor.Ended, t0)); err != nil {
		t.Fatal(err)
	}
}

// TestOpenSpoolRepairsATornFile: a line cut short by a crash is dropped
// at open, so the next append does not glue onto it.
func TestOpenSpoolRepairsATornFile(t *testing.T) {
	torn, err := os.ReadFile("testdata/spool/torn.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "h.spool")
	if err := os.WriteFile(path, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	sp, bad, err := openSpool(path, 1<<20)
	if err != nil || bad != 1 {
		t.Fatalf("bad %d, %v", bad, err)
	}
	if err := sp.append(testChange("z", monitor.Ended, t0)); err != nil {
		t.Fatal(err)
	}
	sp.close()
	b, _ := os.ReadFile(path)
	lines, bad, torn2, err := readSpool(bytes.NewReader(b))
	if err != nil || bad != 0 || torn2 || len(lines) != 2 {
		t.Fatalf("after repair and append: %d lines, %d bad, torn %v, %v", len(lines), bad, torn2, err)
	}
}

// FuzzReadSpool feeds the spool reader arbitrary files: it never fails
// on bad data, every line it keeps decodes, and a file of the lines it
// kept reads back the same.
func FuzzReadSpool(f *testing.F) {
	for _, name := range []string{"good.jsonl", "torn.jsonl", "damaged.jsonl"} {
		b, err := os.ReadFile(filepath.Join("testdata/spool", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines, bad, torn, err := readSpool(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if torn && bad == 0 {
			t.Fatal("a torn line not counted bad")
		}
		var again []byte
		for _, l := range lines {
			if _, err := decodeChange(l); err != nil {
				t.Fatalf("kept line %q: %v", l, err)
			}
			if len(l) == 0 || l[len(l)-1] != '\n' || len(l) > maxSpoolLine {
				t.Fatalf("kept line %q", l)
			}
			again = append(again, l...)
		}
		lines2, bad2, torn2, err := readSpool(bytes.NewReader(again))
		if err != nil || bad2 != 0 || torn2 || len(lines2) != len(lines) {
			t.Fatalf("rereading the kept lines: %d of %d, %d bad, torn %v, %v", len(lines2), len(lines), bad2, torn2, err)
		}
	})
}
