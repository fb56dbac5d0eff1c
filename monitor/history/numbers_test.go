package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

// numberCalls are calls whose numbers are written in the ways sources
// write them: the same mobile number four ways, and numbers that look
// alike but are others.
var numberCalls = []struct {
	key      string
	from, to string
}{
	{"fritz", "01701234567", "5551234"},      // a Fritz!Box: national
	{"e164", "+491701234567", "201"},         // Asterisk: E.164
	{"idd", "00491701234567", "202"},         // with the international prefix
	{"bare", "491701234567", "203"},          // E.164 without its +
	{"berlin", "03017012345", "5551234"},     // 030 170123 45: contains 0170123
	{"other", "01711234567", "5551234"},      // another mobile number, same end
	{"austria", "+431701234567", "5551234"},  // the same digits in Austria
	{"card", "+49 (0)30 1234567", "**610"},   // as a business card writes it; a DECT handset
	{"sip", "alice@pbx.example", "5551234"},  // a SIP user
	{"service", "0800 3301000", "5551234"},   // a short service number
	{"outbound", "204", "0049 89 1234 5678"}, // the other party dialled
}

func numberStore(t *testing.T, be Driver, country string) *Store {
	t.Helper()
	s, err := openPlace(context.Background(), place(t, be), WithDefaultCountry(country))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i, c := range numberCalls {
		if err := s.Save(context.Background(), ended("home", c.key, i, monitor.Inbound, false, c.from, c.to)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// found returns the keys of the calls a search for number finds, sorted.
func found(t *testing.T, s *Store, number string) []string {
	t.Helper()
	p, err := s.Query(context.Background(), Filter{Number: number, Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range p.Calls {
		keys = append(keys, strings.TrimPrefix(string(c.ID), "home:"))
	}
	slices.Sort(keys)
	if len(keys) != p.Total {
		t.Fatalf("%q: %d calls on the page, total %d", number, len(keys), p.Total)
	}
	return keys
}

func TestNumberSearchFindsEveryWriting(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			s := numberStore(t, be, "DE")
			mobile := []string{"bare", "e164", "fritz", "idd"}
			tests := []struct {
				query string
				want  []string
			}{
				// The whole number, however it is written.
				{"+49 170 1234567", mobile},
				{"+491701234567", mobile},
				{"0170 1234567", mobile},
				{"01701234567", mobile},
				{"0170/123 45-67", mobile},
				{"(0170) 123 4567", mobile},
				{"0049 170 1234567", mobile},
				{"00491701234567", mobile},
				{"+49 (0)170 1234567", mobile},
				{" 0170 1234567\t", mobile},
				// Its start, however it is written: never the Berlin number that
				// has 0170123 inside it.
				{"+49 170 123", mobile},
				{"0170 123", mobile},
				{"0049170123", mobile},
				{"0170", mobile},
				// Bare digits: anywhere in a number.
				{"1234567", []string{"austria", "bare", "card", "e164", "fritz", "idd", "other", "outbound"}},
				{"170 123", []string{"austria", "bare", "berlin", "e164", "fritz", "idd"}},
				// Others that look alike are not the same number.
				{"0171 1234567", []string{"other"}},
				{"+43 170 1234567", []string{"austria"}},
				{"0043 170", []string{"austria"}},
				{"030 170", []string{"berlin"}},
				{"+49 30 1234567", []string{"card"}},
				{"030 1234567", []string{"card"}},
				{"01701234568", nil},
				{"0170 1234567 8", nil},
				{"+1 170 1234567", nil},
				{"4917", []string{"bare", "e164", "fritz", "idd", "other"}},
				// The other party; extensions and feature codes as written.
				{"089 1234 5678", []string{"outbound"}},
				{"+49 89 12345678", []string{"outbound"}},
				{"204", []string{"outbound"}},
				{"201", []string{"e164"}},
				{"**610", []string{"card"}},
				// A short service number E.164 cannot read, as written.
				{"0800 3301000", []string{"service"}},
				{"0800330", []string{"service"}},
				// Not a telephone number: a part of the number as stored, with
				// LIKE's wildcards taken literally.
				{"alice", []string{"sip"}},
				{"pbx.exa", []string{"sip"}},
				{"%", nil},
				{"_", nil},
			}
			for _, tt := range tests {
				t.Run(tt.query, func(t *testing.T) {
					if got := found(t, s, tt.query); !slices.Equal(got, tt.want) {
						t.Errorf("search %q found %v, want %v", tt.query, got, tt.want)
					}
				})
			}
		})
	}
}

// Without a default country, a national number is only what it says: the
// international forms still find each other.
func TestNumberSearchWithoutCountry(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			s := numberStore(t, be, "")
			tests := []struct {
				query string
				want  []string
			}{
				{"+49 170 1234567", []string{"bare", "e164", "idd"}},
				{"0049 170 1234567", []string{"bare", "e164", "idd"}},
				{"0170 1234567", []string{"fritz"}},
				{"0170", []string{"fritz"}},
				{"1234567", []string{"austria", "bare", "card", "e164", "fritz", "idd", "other", "outbound"}},
			}
			for _, tt := range tests {
				if got := found(t, s, tt.query); !slices.Equal(got, tt.want) {
					t.Errorf("search %q found %v, want %v", tt.query, got, tt.want)
				}
			}
		})
	}
}

// In North America the international prefix is 011 and the trunk prefix
// 1.
func TestNumberSearchUS(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			s, err := openPlace(context.Background(), place(t, be), WithDefaultCountry("us"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			for i, n := range []string{"(415) 555-2671", "+1 415 555 2671", "011 49 170 1234567", "+49 170 1234567"} {
				if err := s.Save(ctx, ended("home", string(rune('a'+i)), i, monitor.Inbound, false, n, "100")); err != nil {
					t.Fatal(err)
				}
			}
			for q, want := range map[string][]string{
				"1 415 555":       {"a", "b"},
				"+1 415 555 2671": {"a", "b"},
				"415 555":         {"a", "b"},
				"011 49 170":      {"c", "d"},
				"+49 170 123":     {"c", "d"},
			} {
				if got := found(t, s, q); !slices.Equal(got, want) {
					t.Errorf("search %q found %v, want %v", q, got, want)
				}
			}
		})
	}
}

func TestOpenRejectsUnknownCountry(t *testing.T) {
	_, err := Open(context.Background(), filepath.Join(t.TempDir(), "h.db"), WithDefaultCountry("XX"))
	if !errors.Is(err, ErrBadCountry) {
		t.Fatalf("Open with country XX: %v, want ErrBadCountry", err)
	}
}

// loadFixture makes a database at path from an SQL script in testdata.
func loadFixture(t *testing.T, path, script string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "migrate", script))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(string(b)); err != nil {
		t.Fatal(err)
	}
}

// A version 2 database gains the numbers' searchable forms, filled in for
// the calls it holds, and keeps everything else.
func TestMigrateVersion2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	loadFixture(t, path, "v2.sql")
	s, err := Open(context.Background(), path, WithDefaultCountry("DE"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version %d %v, want %d", v, err, schemaVersion)
	}
	if s.Run() != 8 {
		t.Errorf("run %d, want 8: the counter goes on", s.Run())
	}
	rows, err := s.db.Query("SELECT id, from_key, from_digits, to_key, to_digits FROM calls ORDER BY started")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, fk, fd, tk, td string
		if err := rows.Scan(&id, &fk, &fd, &tk, &td); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{id, fk, fd, tk, td}, " "))
	}
	rows.Close()
	want := []string{
		"home:0-1.1 +491701234567 01701234567 +495551234 5551234",
		"pbx:1732000000.1 +491701234567 491701234567 201 201",
		"pbx:1732000000.9 202 202 +49301234567 0049301234567",
		"home:1-1.2 +493017012345 03017012345 +495551234 5551234",
	}
	if !slices.Equal(got, want) {
		t.Errorf("migrated rows\n got %q\nwant %q", got, want)
	}
	ids := func(q string) []string {
		p, err := s.Query(context.Background(), Filter{Number: q})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range p.Calls {
			out = append(out, string(c.ID))
		}
		return out
	}
	if got := ids("0049 170 123"); !slices.Equal(got, []string{"pbx:1732000000.1", "home:0-1.1"}) {
		t.Errorf("0049 170 123 found %v", got)
	}
	if got := ids("+49 30 123"); !slices.Equal(got, []string{"pbx:1732000000.9"}) {
		t.Errorf("+49 30 123 found %v", got)
	}
	// The old rows decode as they were, and new saves go beside them.
	p, err := s.Query(context.Background(), Filter{})
	if err != nil || p.Total != 4 || p.Calls[3].From.Name != "Erika Muster" {
		t.Fatalf("page %+v %v", p, err)
	}
	if err := s.Save(context.Background(), ended("home", "0-8.1", 0, monitor.Inbound, false, "0170 1234567", "5551234")); err != nil {
		t.Fatal(err)
	}
	if got := ids("+491701234567"); len(got) != 3 {
		t.Errorf("after a save, +491701234567 found %v", got)
	}
}

// A database newer than the program is refused, not misread.
func TestMigrateRefusesNewer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(context.Background(), path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a version 99 database: %v", err)
	}
}

// A changed default country makes the stored forms again at the next
// Open, so that national numbers saved before are found the new way.
func TestRekeyOnCountryChange(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			path := place(t, be)
			s, err := openPlace(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Save(context.Background(), ended("home", "a", 0, monitor.Inbound, false, "0170 1234567", "5551234")); err != nil {
				t.Fatal(err)
			}
			if got := found(t, s, "+49 170 1234567"); got != nil {
				t.Fatalf("without a country, +49 found %v", got)
			}
			s.Close()
			s = openAt(t, path)
			// Reopened the same: nothing to do.
			var keys string
			if err := s.db.QueryRow("SELECT value FROM settings WHERE key = 'number_keys'").Scan(&keys); err != nil || keys != "v1 " {
				t.Fatalf("number_keys %q %v", keys, err)
			}
			s.Close()
			s, err = openPlace(context.Background(), path, WithDefaultCountry("DE"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := found(t, s, "+49 170 1234567"); !slices.Equal(got, []string{"a"}) {
				t.Fatalf("with DE, +49 found %v", got)
			}
		})
	}
}

// TestRekeyManyBatches: a country change makes the forms again for every
// call, across many of rekey's batches.
func TestRekeyManyBatches(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			path := place(t, be)
			s := openAt(t, path)
			const n = 2*rekeyBatch + 37
			var chs []change
			for i := range n {
				chs = append(chs, change{At: t0, Call: ended("home", fmt.Sprint(i), i%50, monitor.Inbound, false, fmt.Sprintf("0170%07d", i), "201")})
			}
			if err := s.write(context.Background(), chs); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s = openAt(t, path, WithDefaultCountry("DE"))
			var keyed int
			if err := s.db.QueryRow("SELECT COUNT(*) FROM calls WHERE from_key LIKE '+49170%'").Scan(&keyed); err != nil || keyed != n {
				t.Fatalf("%d of %d calls rekeyed (%v)", keyed, n, err)
			}
		})
	}
}
