package phonebook

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func open(t testing.TB, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestParseCSV(t *testing.T) {
	entries, errs := ParseCSV(open(t, "contacts.csv"))
	want := []Entry{
		{"Bäckerei Schulz", []string{"030 1234567"}},
		{"Müller, Anna", []string{"+49 (30) 7654321", "0171 2345678"}},
		{"Hausverwaltung Nord", []string{"0309999999"}},
		{"Kurzwahl Empfang", []string{"201"}},
	}
	if !reflect.DeepEqual(entries, want) {
		t.Fatalf("entries %q\nwant %q", entries, want)
	}
	if len(errs) != 1 || !errors.Is(errs[0], ErrBadEntry) || !strings.Contains(errs[0].Error(), "line 5") {
		t.Fatalf("errors %v, want the row without a number", errs)
	}
	// Without a header: name, then numbers; commas.
	entries, errs = ParseCSV(strings.NewReader("Anna,0301,0302\n\"Ben \"\"B\"\"\",040555\n"))
	if len(errs) != 0 || len(entries) != 2 || entries[0].Numbers[1] != "0302" || entries[1].Name != `Ben "B"` {
		t.Fatalf("headerless %q %v", entries, errs)
	}
	// A given and a family name column.
	entries, _ = ParseCSV(strings.NewReader("First Name,Last Name,Mobile Phone\nCleo,Lindqvist,+4420\n"))
	if len(entries) != 1 || entries[0].Name != "Cleo Lindqvist" {
		t.Fatalf("given and family %q", entries)
	}
}

func TestParseVCard(t *testing.T) {
	entries, errs := ParseVCard(open(t, "contacts.vcf"))
	want := []Entry{
		{"Dr. Ben Becker", []string{"+49 40 5551234", "0151 11112222"}},
		{"Cleo Lindqvist", []string{"+44-20-7946-0018"}},
		{"Pizza Roma, Lieferdienst", []string{"089 123456"}},
	}
	if !reflect.DeepEqual(entries, want) {
		t.Fatalf("entries %q\nwant %q", entries, want)
	}
	if len(errs) != 2 {
		t.Fatalf("errors %v, want the card without a number and the one without END", errs)
	}
	for _, err := range errs {
		if !errors.Is(err, ErrBadEntry) {
			t.Fatalf("%v is no ErrBadEntry", err)
		}
	}
}

func TestParseFritzXML(t *testing.T) {
	entries, errs := ParseFritzXML(open(t, "fritz-phonebook.xml"))
	want := []Entry{
		{"Dora Dietrich", []string{"0221 998877", "+491609876543"}},
		{"Praxis Dr. Emil Engel", []string{"00492281234567"}},
		{"**610 Küche", []string{"**610"}},
	}
	if !reflect.DeepEqual(entries, want) {
		t.Fatalf("entries %q\nwant %q", entries, want)
	}
	if len(errs) != 1 || !errors.Is(errs[0], ErrBadEntry) {
		t.Fatalf("errors %v", errs)
	}
	if _, errs := ParseFritzXML(strings.NewReader("<phonebooks><phonebook><contact><person><realName>x")); len(errs) == 0 {
		t.Fatal("cut-off XML gave no error")
	}
}

func quiet() Option { return WithLogger(slog.New(slog.DiscardHandler)) }

// TestBookLooksUpEveryForm: the three file formats together; numbers
// match whichever way they are written.
func TestBookLooksUpEveryForm(t *testing.T) {
	b, err := New([]Config{
		{Path: filepath.Join("testdata", "contacts.csv")},
		{Path: filepath.Join("testdata", "contacts.vcf")},
		{Path: filepath.Join("testdata", "fritz-phonebook.xml")},
	}, "DE", quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	for number, want := range map[string]string{
		"0301234567":     "Bäckerei Schulz",
		"+49301234567":   "Bäckerei Schulz",
		"0049301234567":  "Bäckerei Schulz",
		"+4930 7654321":  "Müller, Anna",
		"01712345678":    "Müller, Anna",
		"+494055512 34":  "Dr. Ben Becker",
		"00442079460018": "Cleo Lindqvist",
		"0221998877":     "Dora Dietrich",
		"02281234567":    "Praxis Dr. Emil Engel",
		"201":            "Kurzwahl Empfang",
		"**610":          "**610 Küche",
	} {
		if got, ok := b.LookupName(number); !ok || got != want {
			t.Errorf("LookupName(%q) = %q, %v; want %q", number, got, ok, want)
		}
	}
	for _, number := range []string{"", "0302", "+4930123456", "2010"} {
		if got, ok := b.LookupName(number); ok {
			t.Errorf("LookupName(%q) = %q", number, got)
		}
	}
}

// TestBookReloadsAChangedFile: a file is read again when it changes, and
// one that goes missing keeps what it gave.
func TestBookReloadsAChangedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "book.csv")
	write := func(content string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	write("name,number\nAnna,0301234567\n", t0)
	b, err := New([]Config{{Path: path}}, "DE", quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if name, _ := b.LookupName("+49301234567"); name != "Anna" {
		t.Fatalf("first load: %q", name)
	}
	write("name,number\nAnnabel,0301234567\n", t0.Add(time.Second))
	if err := b.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if name, _ := b.LookupName("+49301234567"); name != "Annabel" {
		t.Fatalf("after the change: %q", name)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := b.Load(t.Context()); err == nil {
		t.Fatal("a missing file gave no error")
	}
	if name, _ := b.LookupName("+49301234567"); name != "Annabel" {
		t.Fatalf("a missing file dropped its entries: %q", name)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{},
		{Path: "book.txt"},
		{Type: "csv"},
		{Type: "ldap", Path: "x"},
		{URL: "ftp://dav.example.org/"},
		{URL: "https://anna:secret@dav.example.org/"},
		{URL: "https://dav.example.org/", Password: "a", PasswordFile: "b"},
		{Path: "a.csv", Poll: -time.Second},
	} {
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	for _, c := range []Config{{Path: "a.csv"}, {Path: "b.VCF"}, {Path: "c.xml"}, {Type: "vcard", Path: "d.txt"}, {URL: "https://dav.example.org/ab/"}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if _, err := New(nil, "XX"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("country XX: %v", err)
	}
}

// davServer is a CardDAV address book on loopback speaking the PROPFIND
// and REPORT the client sends, with Basic authentication.
type davServer struct {
	*httptest.Server
	mu       sync.Mutex
	ctag     string
	cards    []string
	reports  int
	lastBody string
}

func newDAV(t *testing.T, user, password string) *davServer {
	t.Helper()
	d := &davServer{ctag: "1"}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="dav"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		defer d.mu.Unlock()
		d.lastBody = string(body)
		w.Header().Set("Content-Type", `application/xml; charset="utf-8"`)
		switch {
		case r.Method == "PROPFIND" && r.Header.Get("Depth") == "0" && strings.Contains(string(body), "getctag"):
			w.WriteHeader(http.StatusMultiStatus)
			_, _ = io.WriteString(w, `<?xml version="1.0"?><D:multistatus xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">`+
				`<D:response><D:href>/ab/</D:href><D:propstat><D:prop><CS:getctag>`+d.ctag+`</CS:getctag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>`+
				`<D:propstat><D:prop><D:sync-token/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response></D:multistatus>`)
		case r.Method == "REPORT" && r.Header.Get("Depth") == "1" && strings.Contains(string(body), "addressbook-query"):
			d.reports++
			w.WriteHeader(http.StatusMultiStatus)
			_, _ = io.WriteString(w, `<?xml version="1.0"?><D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">`)
			for i, c := range d.cards {
				_, _ = io.WriteString(w, `<D:response><D:href>/ab/`+string(rune('a'+i))+`.vcf</D:href><D:propstat><D:prop><D:getetag>"e`+string(rune('a'+i))+`"</D:getetag><C:address-data>`)
				xmlEscape(w, c)
				_, _ = io.WriteString(w, `</C:address-data></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`)
			}
			_, _ = io.WriteString(w, `</D:multistatus>`)
		default:
			http.Error(w, "not supported", http.StatusMethodNotAllowed)
		}
	}))
	t.Cleanup(d.Close)
	return d
}

func xmlEscape(w io.Writer, s string) {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	_, _ = io.WriteString(w, r.Replace(s))
}

func (d *davServer) set(ctag string, cards ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ctag, d.cards = ctag, cards
}

func (d *davServer) reportCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reports
}

func card(name, tel string) string {
	return "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:" + name + "\r\nTEL:" + tel + "\r\nEND:VCARD\r\n"
}

// TestCardDAV: the address book is fetched with the credentials from a
// file, fetched again only when its ctag changes, and kept when the
// server refuses.
func TestCardDAV(t *testing.T) {
	d := newDAV(t, "anna", "s3cret")
	d.set("1", card("Fiona Fischer", "+49 30 5550001"), "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:broken\r\nEND:VCARD\r\n")
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := New([]Config{{URL: d.URL + "/ab/", Username: "anna", PasswordFile: pw}}, "DE", quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := b.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if name, _ := b.LookupName("0305550001"); name != "Fiona Fischer" || d.reportCount() != 1 {
		t.Fatalf("first load: %q, %d reports", name, d.reportCount())
	}
	if err := b.Load(ctx); err != nil || d.reportCount() != 1 {
		t.Fatalf("an unchanged ctag fetched the cards again (%d reports, %v)", d.reportCount(), err)
	}
	d.set("2", card("Fiona Fischer-Graf", "+49 30 5550001"), card("Gregor", "0405550002"))
	if err := b.Load(ctx); err != nil || d.reportCount() != 2 {
		t.Fatalf("a new ctag did not fetch the cards (%d reports, %v)", d.reportCount(), err)
	}
	if name, _ := b.LookupName("+49305550001"); name != "Fiona Fischer-Graf" {
		t.Fatalf("after the change: %q", name)
	}

	wrong, err := New([]Config{{URL: d.URL + "/ab/", Username: "anna", Password: "wrong"}}, "DE", quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Load(ctx); !errors.Is(err, ErrCardDAV) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestRunStopsWithItsContext: Run loads at once and returns when its
// context ends.
func TestRunStopsWithItsContext(t *testing.T) {
	b, err := New([]Config{{Path: filepath.Join("testdata", "contacts.csv"), Poll: time.Hour}}, "DE", quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func BenchmarkLookup(b *testing.B) {
	book, err := New([]Config{{Path: filepath.Join("testdata", "contacts.csv")}}, "DE", quiet())
	if err != nil {
		b.Fatal(err)
	}
	if err := book.Load(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		book.LookupName("+49 30 1234567")
	}
}
