package history

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// FuzzNumberQuery saves a call from each made-up number and searches for
// that number as it was written: the search is read without error and
// finds the call, whatever the number looks like, and its condition
// has as many arguments as placeholders.
func FuzzNumberQuery(f *testing.F) {
	for _, s := range []string{
		"+49 170 1234567", "0170 1234567", "0049170123", "+49 (0)30 1234567", "(0)", "+(0)1",
		"1234567", "**610", "*21#", "alice@pbx.example", "anonymous", "%_\\", "+", "00", "0", "011 49 170",
		"0800 3301000", " 0170\t123 ", "１２３",
	} {
		f.Add(s)
	}
	s, err := Open(context.Background(), filepath.Join(f.TempDir(), "h.db"), WithDefaultCountry("DE"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	if _, err := s.db.Exec("PRAGMA synchronous = OFF"); err != nil {
		f.Fatal(err)
	}
	n := 0
	f.Fuzz(func(t *testing.T, number string) {
		cond, args := s.numbers.parseNumberQuery(number).sql(s.dialect.ilike)
		if strings.Count(cond, "?") != len(args) {
			t.Fatalf("%q: %d placeholders, %d arguments", number, strings.Count(cond, "?"), len(args))
		}
		if strings.TrimSpace(number) == "" || strings.ContainsRune(number, 0) {
			// An empty search selects everything; SQLite's LIKE ends a
			// pattern at a NUL.
			return
		}
		n++
		c := ended("home", "fuzz", n, monitor.Inbound, false, number, "5551234")
		if err := s.Save(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		p, err := s.Query(context.Background(), Filter{Number: number, Since: c.Started, Until: c.Started.Add(time.Second)})
		if err != nil {
			t.Fatalf("%q: %v", number, err)
		}
		if p.Total != 1 {
			t.Fatalf("search %q (%s %q) does not find the call from %q", number, cond, args, number)
		}
	})
}
