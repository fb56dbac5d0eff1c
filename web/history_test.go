package web

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/switchboard/switchboard/gateway"
	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/history"
)

// newYork is the display zone of these tests: not the zone of the
// machine that runs them (nor UTC, which the stored times are in), and
// one with a change of the clocks inside the test's month (2026-11-01,
// a day of 25 hours).
const newYork = "America/New_York"

// historyNow is the clock of these tests: 2026-11-23 15:00 in New York.
var historyNow = time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)

// historyEnv is a server over a real history store (SQLite, with DE as
// the default country), showing times in New York.
type historyEnv struct {
	*env
	store *history.Store
}

type historyOptions struct {
	// phone runs the server with a softphone gateway.
	phone bool
	// wrap, when set, stands between the server and the store.
	wrap func(*history.Store) History
}

func newHistoryEnv(t *testing.T, o historyOptions) *historyEnv {
	t.Helper()
	store, err := history.Open(context.Background(), filepath.Join(t.TempDir(), "history.db"), history.WithDefaultCountry("DE"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &env{hub: monitor.NewHub(monitor.HubConfig{}), hist: &fakeHistory{}, ctl: &fakeController{}}
	e.hub.SourceStatus(monitor.SourceStatus{Name: "home", Type: "fritz", State: monitor.LinkConnected})
	e.hub.SourceStatus(monitor.SourceStatus{Name: "pbx", Type: "ami", State: monitor.LinkConnected})
	deps := Deps{Hub: e.hub, History: store}
	if o.wrap != nil {
		deps.History = o.wrap(store)
	}
	if o.phone {
		deps.Phone = &fakePhone{users: make(chan gateway.PhoneUser, 4)}
	}
	cfg := testConfig(t)
	cfg.TimeZone = newYork
	srv, err := New(cfg, deps, WithLogger(quietLogger()), WithClock(func() time.Time { return historyNow }))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		e.hub.Close()
		e.ts.Close()
	})
	return &historyEnv{env: e, store: store}
}

// save stores an ended call that started at the New York wall-clock time
// given as "2006-01-02 15:04".
func (h *historyEnv) save(t *testing.T, key string, source monitor.SourceName, at string, answered bool, from, to monitor.Party) monitor.Call {
	t.Helper()
	ny, err := time.LoadLocation(newYork)
	if err != nil {
		t.Fatal(err)
	}
	start, err := time.ParseInLocation("2006-01-02 15:04", at, ny)
	if err != nil {
		t.Fatal(err)
	}
	c := monitor.Call{
		ID: monitor.MakeCallID(source, key), Source: source, Direction: monitor.Inbound, State: monitor.Ended,
		From: from, To: to, Line: "SIP0", Started: start.UTC(), Ended: start.Add(90 * time.Second).UTC(),
		Reason: monitor.ReasonNoAnswer,
	}
	if answered {
		c.Answered = start.Add(10 * time.Second).UTC()
		c.AnsweredBy = &monitor.Party{Number: to.Number, Extension: "11", Name: "Reception"}
		c.Duration = 80
		c.Reason = monitor.ReasonCompleted
	}
	if err := h.store.Save(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

func num(n string) monitor.Party { return monitor.Party{Number: n} }

// rowIDs returns the call ids of the history rows of a page.
func rowIDs(t *testing.T, body string) []string {
	t.Helper()
	var ids []string
	parseHTML(t, body).Find(`[data-testid="history-row"]`).Each(func(_ int, s *goquery.Selection) {
		ids = append(ids, s.AttrOr("data-id", ""))
	})
	return ids
}

func TestHistoryDateRange(t *testing.T) {
	h := newHistoryEnv(t, historyOptions{})
	// Each is a New York wall-clock time; UTC is five hours ahead (four
	// until 2026-11-01 02:00).
	h.save(t, "late-22", "home", "2026-11-22 23:30", false, num("0301"), num("5551234")) // 2026-11-23 in UTC
	h.save(t, "early-23", "home", "2026-11-23 00:10", true, num("0302"), num("5551234"))
	h.save(t, "noon-23", "pbx", "2026-11-23 12:00", false, num("0303"), num("201"))
	h.save(t, "week", "home", "2026-11-17 08:00", false, num("0304"), num("5551234"))
	h.save(t, "before-week", "home", "2026-11-16 23:59", false, num("0305"), num("5551234"))
	h.save(t, "dst-end", "home", "2026-11-01 23:30", false, num("0306"), num("5551234")) // the 25-hour day
	h.save(t, "october", "home", "2026-10-31 23:59", false, num("0307"), num("5551234"))
	c := h.client(t)
	h.login(t, c, "vera")

	tests := []struct {
		query string
		want  []string
	}{
		{"from=2026-11-23&to=2026-11-23", []string{"pbx:noon-23", "home:early-23"}},
		{"from=2026-11-22&to=2026-11-22", []string{"home:late-22"}},
		{"from=2026-11-01&to=2026-11-01", []string{"home:dst-end"}},
		{"from=2026-11-17", []string{"pbx:noon-23", "home:early-23", "home:late-22", "home:week"}},
		{"to=2026-10-31", []string{"home:october"}},
		{"from=2026-11-23&to=2026-11-23&source=home", []string{"home:early-23"}},
		{"from=2026-11-23&to=2026-11-23&outcome=missed", []string{"pbx:noon-23"}},
	}
	for _, tt := range tests {
		resp, body := get(t, c, h.ts.URL+"/history?"+tt.query)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", tt.query, resp.StatusCode)
		}
		if got := rowIDs(t, body); !slices.Equal(got, tt.want) {
			t.Errorf("%s: rows %v, want %v", tt.query, got, tt.want)
		}
		// The API takes the same range.
		_, js := get(t, c, h.ts.URL+"/api/history?"+tt.query, "Accept", "application/json")
		for _, id := range tt.want {
			if !strings.Contains(js, `"id":"`+id+`"`) {
				t.Errorf("api %s: no %s in %s", tt.query, id, js)
			}
		}
	}

	// The quick picks, as of 2026-11-23 15:00 in New York, keep the rest
	// of the search.
	_, body := get(t, c, h.ts.URL+"/history?source=home&number=030&offset=50")
	doc := parseHTML(t, body)
	picks := map[string]string{
		"today":     "/history?from=2026-11-23&number=030&source=home&to=2026-11-23",
		"yesterday": "/history?from=2026-11-22&number=030&source=home&to=2026-11-22",
		"week":      "/history?from=2026-11-17&number=030&source=home&to=2026-11-23",
		"month":     "/history?from=2026-11-01&number=030&source=home&to=2026-11-23",
		"all":       "/history?number=030&source=home",
	}
	for key, want := range picks {
		sel := doc.Find(`[data-testid="history-range-` + key + `"]`)
		if got := sel.AttrOr("href", ""); got != want {
			t.Errorf("quick pick %s: %q, want %q", key, got, want)
		}
		if _, active := sel.Attr("aria-current"); active != (key == "all") {
			t.Errorf("quick pick %s marked active: %v", key, active)
		}
	}
	_, body = get(t, c, h.ts.URL+picks["yesterday"])
	doc = parseHTML(t, body)
	if got := rowIDs(t, body); !slices.Equal(got, []string{"home:late-22"}) {
		t.Errorf("yesterday: rows %v", got)
	}
	if _, active := doc.Find(`[data-testid="history-range-yesterday"]`).Attr("aria-current"); !active {
		t.Error("yesterday is not marked as the range shown")
	}
	if got := doc.Find(`[data-testid="history-from-date"]`).AttrOr("value", ""); got != "2026-11-22" {
		t.Errorf("from field %q", got)
	}
	// Times in New York: 23:30 there, 04:30 the next day in UTC.
	if got := doc.Find(`[data-testid="history-started"]`).Text(); got != "2026-11-22 23:30" {
		t.Errorf("started %q, want New York's 2026-11-22 23:30", got)
	}
	if got := doc.Find(`[data-testid="history-zone"]`).Text(); got != "("+newYork+")" {
		t.Errorf("zone %q", got)
	}
	if got := doc.Find(`meta[name="timezone"]`).AttrOr("content", ""); got != newYork {
		t.Errorf("meta timezone %q", got)
	}

	for _, q := range []string{"from=2026-13-01", "to=23.11.2026", "from=2026-11-23&to=2026-11-22", "from=yesterday"} {
		resp, js := get(t, c, h.ts.URL+"/api/history?"+q, "Accept", "application/json")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(js, `"error"`) {
			t.Errorf("api %s: status %d %s, want 400", q, resp.StatusCode, js)
		}
		_, page := get(t, c, h.ts.URL+"/history?"+q)
		if msg := parseHTML(t, page).Find(`[data-testid="history-error"]`).Text(); msg == "" {
			t.Errorf("page %s: no error shown", q)
		}
	}
}

func TestHistoryNumberSearchOverHTTP(t *testing.T) {
	h := newHistoryEnv(t, historyOptions{})
	h.save(t, "fritz", "home", "2026-11-23 09:00", false, num("01701234567"), num("5551234"))
	h.save(t, "ami", "pbx", "2026-11-23 10:00", true, num("+491701234567"), num("201"))
	h.save(t, "berlin", "home", "2026-11-23 11:00", false, num("03017012345"), num("5551234"))
	c := h.client(t)
	h.login(t, c, "vera")
	for _, q := range []string{"+49 170 123", "0170 123", "0049170123", "0170/1234567"} {
		_, body := get(t, c, h.ts.URL+"/history?"+url.Values{"number": {q}}.Encode())
		if got := rowIDs(t, body); !slices.Equal(got, []string{"pbx:ami", "home:fritz"}) {
			t.Errorf("search %q: rows %v", q, got)
		}
		// The form shows the search as it was typed.
		if got := parseHTML(t, body).Find(`[data-testid="history-number"]`).AttrOr("value", ""); got != q {
			t.Errorf("search field %q, want %q", got, q)
		}
	}
}

// readCSV reads an export: whether it starts with a byte order mark, and
// its records.
func readCSV(t *testing.T, body string) (bool, [][]string) {
	t.Helper()
	bom := strings.HasPrefix(body, "\ufeff")
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\ufeff")))
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v\n%s", err, body)
	}
	return bom, recs
}

func TestHistoryCSV(t *testing.T) {
	h := newHistoryEnv(t, historyOptions{})
	h.save(t, "a", "home", "2026-11-23 09:15", true,
		monitor.Party{Number: "+491701234567", Name: "Müller, \"Hans\"\nJr."}, monitor.Party{Number: "5551234", Name: "Office"})
	h.save(t, "b", "home", "2026-11-22 23:30", false,
		monitor.Party{Number: "01701234567", Name: `=HYPERLINK("http://evil.example","click")`}, num("5551234"))
	h.save(t, "c", "home", "2026-11-22 08:00", false, monitor.Party{Name: "@SUM(A1)", Private: true}, num("-5551234"))
	h.save(t, "other-source", "pbx", "2026-11-23 09:00", false, num("01701234567"), num("201"))
	h.save(t, "too-early", "home", "2026-11-21 23:59", false, num("01701234567"), num("5551234"))
	h.save(t, "other-number", "home", "2026-11-23 10:00", false, num("0301111111"), num("5551234"))
	c := h.client(t)
	h.login(t, c, "vera")

	// The page links the export of what it shows.
	q := url.Values{"number": {"0170 123"}, "source": {"home"}, "from": {"2026-11-22"}, "to": {"2026-11-23"}, "offset": {"1"}, "limit": {"1"}}
	_, page := get(t, c, h.ts.URL+"/history?"+q.Encode())
	link := parseHTML(t, page).Find(`[data-testid="history-csv"]`).AttrOr("href", "")
	if link != "/history.csv?from=2026-11-22&number=0170+123&source=home&to=2026-11-23" {
		t.Fatalf("CSV link %q: want the search without its paging", link)
	}
	resp, body := get(t, c, h.ts.URL+link)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="calls-2026-11-22-to-2026-11-23.csv"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	bom, recs := readCSV(t, body)
	if !bom {
		t.Error("no byte order mark: Excel would read the file as Windows-1252")
	}
	want := [][]string{
		{"Started (America/New_York)", "Answered (America/New_York)", "Ended (America/New_York)", "Talk (s)", "Direction",
			"From", "From name", "To", "To name", "Answered by", "Line", "Source", "Result", "Cause", "Call ID"},
		{"2026-11-23 09:15:00", "2026-11-23 09:15:10", "2026-11-23 09:16:30", "80", "inbound",
			"'+491701234567", "Müller, \"Hans\"\nJr.", "5551234", "Office", "11 Reception", "SIP0", "home", "completed", "", "home:a"},
		{"2026-11-22 23:30:00", "", "2026-11-22 23:31:30", "0", "inbound",
			"01701234567", `'=HYPERLINK("http://evil.example","click")`, "5551234", "", "", "SIP0", "home", "no-answer", "", "home:b"},
	}
	if !slices.EqualFunc(recs, want, slices.Equal) {
		t.Errorf("export\n got %q\nwant %q", recs, want)
	}
	// Quoted as RFC 4180 asks, lines (also inside a cell) ended with CRLF.
	if !strings.Contains(body, "\"Müller, \"\"Hans\"\"\r\nJr.\"") || !strings.HasSuffix(body, "home:b\r\n") {
		t.Errorf("quoting or line ends:\n%q", body)
	}

	// Every cell a spreadsheet would run as a formula is defused.
	_, body = get(t, c, h.ts.URL+"/history.csv?from=2026-11-22&to=2026-11-22&outcome=missed&bom=0")
	bom, recs = readCSV(t, body)
	if bom {
		t.Error("?bom=0 still wrote a byte order mark")
	}
	if len(recs) != 3 || recs[2][14] != "home:c" || recs[2][5] != "withheld" || recs[2][6] != "'@SUM(A1)" || recs[2][7] != "'-5551234" {
		t.Errorf("missed calls of 2026-11-22: %q", recs)
	}
	for _, rec := range recs {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("cell %q starts a formula", cell)
			}
		}
	}

	// A bad search is refused before anything is written.
	resp, _ = get(t, c, h.ts.URL+"/history.csv?to=2026-11-01&from=2026-11-02")
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(resp.Header.Get("Content-Type"), "csv") {
		t.Errorf("bad range: status %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Sign-in is needed, as for the page.
	resp, _ = get(t, h.client(t), h.ts.URL+"/history.csv")
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("without sign-in: status %d", resp.StatusCode)
	}
	resp, _ = get(t, h.client(t), h.ts.URL+"/history.csv", "Authorization", "Bearer "+testViewerToken)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with a viewer token: status %d", resp.StatusCode)
	}
}

// gatedHistory stands between the server and the store: each is called
// with every call Each hands over, before the server sees it.
type gatedHistory struct {
	*history.Store
	each func(ctx context.Context, n int) error
}

func (g gatedHistory) Each(ctx context.Context, f history.Filter, fn func(monitor.Call) error) error {
	n := 0
	return g.Store.Each(ctx, f, func(c monitor.Call) error {
		n++
		if err := g.each(ctx, n); err != nil {
			return err
		}
		return fn(c)
	})
}

// saveMany stores n calls, one a minute from 2026-11-23 00:00 New York.
func saveMany(t *testing.T, s *history.Store, n int) {
	t.Helper()
	start := time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC)
	for i := range n {
		c := monitor.Call{
			ID: monitor.MakeCallID("home", fmt.Sprintf("0-1.%d", i)), Source: "home",
			Direction: monitor.Inbound, State: monitor.Ended, From: num("01701234567"), To: num("5551234"),
			Started: start.Add(time.Duration(i) * time.Minute), Ended: start.Add(time.Duration(i)*time.Minute + time.Second),
			Reason: monitor.ReasonNoAnswer,
		}
		if err := s.Save(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
}

// The export reaches the client while the store is still reading: the
// first rows arrive before the store has handed over the later ones.
func TestHistoryCSVStreams(t *testing.T) {
	const total, stopAt, readFirst = 600, 400, 200
	release := make(chan struct{})
	h := newHistoryEnv(t, historyOptions{wrap: func(s *history.Store) History {
		return gatedHistory{Store: s, each: func(ctx context.Context, n int) error {
			if n != stopAt {
				return nil
			}
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}
	}})
	saveMany(t, h.store, total)
	c := h.client(t)
	h.login(t, c, "vera")
	resp, err := c.Get(h.ts.URL + "/history.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := range readFirst + 1 {
		// With the export built in memory first, nothing would come
		// while the store waits, and the client's timeout would end this.
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatalf("line %d of the export did not come while the store was held after %d calls: %v", i+1, stopAt-1, err)
		}
	}
	close(release)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(rest), "\r\n") + readFirst; n != total {
		t.Fatalf("%d rows, want %d", n, total)
	}
}

// A store that fails in the middle of an export cuts the download short,
// so that it fails instead of leaving a short file that looks whole.
func TestHistoryCSVStoreFailsMidway(t *testing.T) {
	broken := errors.New("disk I/O error")
	h := newHistoryEnv(t, historyOptions{wrap: func(s *history.Store) History {
		return gatedHistory{Store: s, each: func(_ context.Context, n int) error {
			if n == 250 {
				return broken
			}
			return nil
		}}
	}})
	saveMany(t, h.store, 300)
	c := h.client(t)
	h.login(t, c, "vera")
	resp, err := c.Get(h.ts.URL + "/history.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("the download ended as if whole after %d bytes", len(b))
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "\ufeffStarted") {
		t.Fatalf("status %d, body %.40q", resp.StatusCode, b)
	}
}

func TestHistoryClickToCall(t *testing.T) {
	tests := []struct {
		name  string
		phone bool
		user  string
		dial  bool
	}{
		{"user with an account", true, "bob", true},
		{"admin without an account", true, "anna", false},
		{"viewer", true, "vera", false},
		{"no softphone gateway", false, "bob", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistoryEnv(t, historyOptions{phone: tt.phone})
			h.save(t, "a", "home", "2026-11-23 09:00", false, monitor.Party{Number: "0170 1234567", Name: "Erika"}, num("**610"))
			h.save(t, "b", "home", "2026-11-23 10:00", false, monitor.Party{Private: true}, num("5551234"))
			c := h.client(t)
			h.login(t, c, tt.user)
			_, body := get(t, c, h.ts.URL+"/history")
			doc := parseHTML(t, body)
			var links []string
			doc.Find(`[data-testid="history-dial"]`).Each(func(_ int, s *goquery.Selection) {
				links = append(links, s.AttrOr("href", ""))
			})
			var want []string
			if tt.dial {
				// Newest first; a withheld number has nothing to call.
				want = []string{"/softphone?dial=5551234", "/softphone?dial=01701234567", "/softphone?dial=%2A%2A610"}
			}
			if !slices.Equal(links, want) {
				t.Errorf("dial links %q, want %q", links, want)
			}
			// The number is shown as it was either way.
			if got := doc.Find(`[data-testid="history-from"]`).Last().Text(); !strings.Contains(got, "0170 1234567 (Erika)") {
				t.Errorf("from cell %q", got)
			}
		})
	}
}

func TestDisplayZone(t *testing.T) {
	t.Setenv("TZ", "Asia/Tokyo")
	loc, name, named, err := displayZone("")
	if err != nil || name != "Asia/Tokyo" || !named || loc.String() != "Asia/Tokyo" {
		t.Errorf("server zone from TZ: %v %q %v %v", loc, name, named, err)
	}
	t.Setenv("TZ", ":/usr/share/zoneinfo/Europe/Berlin")
	if _, name, _, _ := displayZone(""); name != "Europe/Berlin" {
		t.Errorf("server zone from a TZ path: %q", name)
	}
	if _, name, _, err := displayZone(newYork); name != newYork || err != nil {
		t.Errorf("configured: %q %v", name, err)
	}
	for _, bad := range []string{"Local", "Europe/Bonn", "../etc/passwd", "EST5EDT,M3.2.0"} {
		if _, _, _, err := displayZone(bad); err == nil {
			t.Errorf("timezone %q accepted", bad)
		}
		cfg := testConfig(t)
		cfg.TimeZone = bad
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Validate with timezone %q: %v", bad, err)
		}
	}
}
