package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"github.com/switchboard/switchboard/gateway"
	"github.com/switchboard/switchboard/monitor"
)

// sameInEveryLanguage are the messages a translation may leave as in
// English: names, symbols and words both languages share.
var sameInEveryLanguage = map[string]bool{
	"login.name": true, "devices.col.name": true, "figures.rate": true, "js.wall.conn.live": true,
	"js.wall.conn.offline": true, "js.phone.link.offline": true, "format.month4": true, "format.month8": true,
	"format.month9": true, "format.month11": true, "js.phone.mic_n": true,
	"js.panel.q.none": true,
}

// placeholders returns the {{.Name}}s of a message.
func placeholders(s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func forms(m *i18n.Message) []string {
	return []string{m.Zero, m.One, m.Two, m.Few, m.Many, m.Other}
}

// TestCataloguesComplete checks every catalogue against the English one:
// each key there, none more, none empty, the same placeholders, and
// translated unless it is listed as the same in every language.
func TestCataloguesComplete(t *testing.T) {
	c, err := LoadCatalogue(localeFiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Languages()) < 2 {
		t.Fatalf("languages %v, want English and at least one more", c.Languages())
	}
	en := c.messages[language.English]
	for _, tag := range c.Languages() {
		t.Run(tag.String(), func(t *testing.T) {
			msgs := c.messages[tag]
			for id, want := range en {
				got, ok := msgs[id]
				if !ok {
					t.Errorf("%s: missing", id)
					continue
				}
				if got.Other == "" {
					t.Errorf("%s: empty", id)
				}
				if p, w := placeholders(strings.Join(forms(got), " ")), placeholders(strings.Join(forms(want), " ")); !slices.Equal(p, w) &&
					!(id == "js.wall.latest" && tag.String() == "de") {
					t.Errorf("%s: placeholders %v, English has %v", id, p, w)
				}
				if tag != language.English && got.Other == want.Other && !sameInEveryLanguage[id] {
					t.Errorf("%s: %q is not translated", id, got.Other)
				}
			}
			for id := range msgs {
				if _, ok := en[id]; !ok {
					t.Errorf("%s: not in the English catalogue", id)
				}
			}
		})
	}
}

// TestCatalogueRejects checks that a broken catalogue is an error, not
// a silent fallback.
func TestCatalogueRejects(t *testing.T) {
	for name, files := range map[string]fstest.MapFS{
		"no English":    {"locales/de.toml": {Data: []byte(`a = "b"`)}},
		"bad TOML":      {"locales/en.toml": {Data: []byte(`a = `)}},
		"bad file name": {"locales/en.toml": {Data: []byte(`a = "b"`)}, "locales/not a language.toml": {Data: []byte(`a = "b"`)}},
		"no catalogues": {},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := LoadCatalogue(files); err == nil {
				t.Fatal("loaded, want an error")
			}
		})
	}
}

func TestMatch(t *testing.T) {
	c, err := LoadCatalogue(localeFiles)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ chosen, accept, want string }{
		{"", "", "en"},
		{"", "de-DE,de;q=0.9,en;q=0.8", "de"},
		{"", "de-AT", "de"},
		{"", "fr-FR,fr;q=0.9", "en"},
		{"", "fr-FR,de;q=0.5", "de"},
		{"", "en-US,en;q=0.9,de;q=0.8", "en"},
		{"en", "de-DE", "en"},
		{"de", "en-US", "de"},
		{"xx", "de", "de"},
		{"", "garbage;;;q=x", "en"},
	} {
		if got := c.Match(tt.chosen, tt.accept).String(); got != tt.want {
			t.Errorf("Match(%q, %q) = %s, want %s", tt.chosen, tt.accept, got, tt.want)
		}
	}
}

func TestLocaleFormats(t *testing.T) {
	c, err := LoadCatalogue(localeFiles)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 12, 31, 15, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		lang             language.Tag
		date, when, num  string
		throttled, kiosk string
	}{
		{language.English, "2026-12-31", "2026-12-31 15:04", "1.5", "Try again in 1 second.", "Thursday 31 December"},
		{language.German, "31.12.2026", "31.12.2026 15:04", "1,5", "Versuchen Sie es in 1 Sekunde wieder.", "Donnerstag, 31. Dezember"},
	} {
		l := c.Locale(tt.lang)
		ctx := WithLocale(context.Background(), l)
		if got := l.Date(day); got != tt.date {
			t.Errorf("%s date %q, want %q", tt.lang, got, tt.date)
		}
		if got := formatWhen(l, day, day.AddDate(0, 0, 2)); got != tt.when {
			t.Errorf("%s when %q, want %q", tt.lang, got, tt.when)
		}
		if got := formatWhen(l, day, day); got != "15:04:05" {
			t.Errorf("%s time of today %q, want 15:04:05", tt.lang, got)
		}
		if got := l.Number(1.5, 1); got != tt.num {
			t.Errorf("%s number %q, want %q", tt.lang, got, tt.num)
		}
		if got := l.T("login.error.throttled", "Count", 1); !strings.HasSuffix(got, tt.throttled) {
			t.Errorf("%s plural %q, want it to end in %q", tt.lang, got, tt.throttled)
		}
		if got := dateText(ctx, day); got != tt.kiosk {
			t.Errorf("%s kiosk date %q, want %q", tt.lang, got, tt.kiosk)
		}
	}
	if got := T(context.Background(), "no.such.message"); got != "⟦no.such.message⟧" {
		t.Errorf("missing message %q, want it marked", got)
	}
}

// usedKeys finds the message IDs written out in the code: T(ctx, "…"),
// l.T("…"), problem(…, "…") in Go and templ, t('…') in the scripts.
func usedKeys(t *testing.T) map[string][]string {
	t.Helper()
	goKey := regexp.MustCompile(`\b(?:T\(\w+, |\.T\(|problem\(\w+, )"([a-z_][a-z0-9_.]*[a-z0-9_])"`)
	jsKey := regexp.MustCompile(`\bT\('([a-z_][a-z0-9_.]*[a-z0-9_])'`)
	out := map[string][]string{}
	scan := func(dir string, re *regexp.Regexp, exts ...string) {
		files, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			name := f.Name()
			if f.IsDir() || strings.HasSuffix(name, "_test.go") || strings.HasSuffix(name, "_templ.go") || !slices.Contains(exts, filepath.Ext(name)) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				out[m[1]] = append(out[m[1]], name)
			}
		}
	}
	scan(".", goKey, ".go", ".templ")
	scan("../static", jsKey, ".js")
	return out
}

// TestUsedKeysExist fails on a message the code asks for that a
// catalogue lacks, and on one a script asks for that the page does not
// hand to the scripts.
func TestUsedKeysExist(t *testing.T) {
	c, err := LoadCatalogue(localeFiles)
	if err != nil {
		t.Fatal(err)
	}
	used := usedKeys(t)
	if len(used) < 100 {
		t.Fatalf("found %d message IDs in the code; the scan is broken", len(used))
	}
	for _, tag := range c.Languages() {
		script := c.Locale(tag).Script().Messages
		for id, files := range used {
			if _, ok := c.messages[tag][id]; !ok {
				t.Errorf("%s: %s used in %v is missing", tag, id, files)
			}
			js := slices.ContainsFunc(files, func(f string) bool { return strings.HasSuffix(f, ".js") })
			if _, ok := script[id]; js && !ok {
				t.Errorf("%s: %s used in %v is not handed to the scripts (scriptPrefixes)", tag, id, files)
			}
		}
	}
}

// englishWords are words of English a German page must not show: they
// mark text the catalogue does not cover.
var englishWords = regexp.MustCompile(`(?i)\b(the|and|you|your|calls?|sign|signed|with|this|from|not|are|answered|missed|incoming|outgoing|ringing|talking|today|yesterday|search|history|devices|wallboard|screen|hang|transfer|hold|cancel|number|source|result|ready)\b`)

var quoted = regexp.MustCompile(`„[^“]*“`)

// pageTexts returns what a reader sees of a page: its text outside
// scripts and styles, and the titles, placeholders and labels.
func pageTexts(doc *goquery.Document) []string {
	var out []string
	doc.Find("script, style, svg symbol").Remove()
	doc.Find("body *").Each(func(_ int, s *goquery.Selection) {
		for _, n := range s.Nodes {
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == 1 { // text
					if v := strings.TrimSpace(c.Data); v != "" {
						out = append(out, v)
					}
				}
			}
			for _, a := range n.Attr {
				if a.Key == "title" || a.Key == "placeholder" || a.Key == "aria-label" {
					out = append(out, a.Val)
				}
			}
		}
	})
	out = append(out, doc.Find("head title").Text())
	return out
}

// TestPagesInEveryLanguage renders every page in every language, by
// Accept-Language, and fails on a missing message (⟦id⟧), a wrong
// <html lang>, a script catalogue of another language, or English left
// on a German page.
func TestPagesInEveryLanguage(t *testing.T) {
	hub := monitor.NewHub(monitor.HubConfig{})
	t.Cleanup(hub.Close)
	// pbx as a cluster node's source: the wallboard names its node.
	hub.SourceStatus(monitor.SourceStatus{Name: "pbx", Type: "ami", State: monitor.LinkConnected, Node: "sb-2",
		Actions: []monitor.Action{monitor.ActionHangup, monitor.ActionTransfer, monitor.ActionOriginate}})
	hub.SourceStatus(monitor.SourceStatus{Name: "home", Type: "fritz", State: monitor.LinkDown, Error: "connection refused", Since: time.Now()})
	hub.Call(testCall("pbx", "1", monitor.Connected))
	hub.Call(testCall("pbx", "2", monitor.Ringing))
	hist := &fakeHistory{}
	for i, r := range []monitor.Reason{monitor.ReasonCompleted, monitor.ReasonNoAnswer, monitor.ReasonBusy, monitor.ReasonRejected,
		monitor.ReasonAbandoned, monitor.ReasonAnsweredElsewhere, monitor.ReasonFailed} {
		c := testCall("pbx", "h"+string(rune('a'+i)), monitor.Ended)
		c.Reason = r
		if r != monitor.ReasonCompleted {
			c.Answered = time.Time{}
		}
		if i%2 == 1 {
			c.Direction = monitor.Outbound
			c.Started = c.Started.AddDate(0, 0, -3)
		}
		hist.add(c)
	}
	srv, err := New(testConfig(t), Deps{Hub: hub, History: hist, Phone: &fakePhone{users: make(chan gateway.PhoneUser, 4)},
		Controllers: map[monitor.SourceName]monitor.Controller{"pbx": &fakeController{}}}, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e := &env{srv: srv, hub: hub, hist: hist, ts: ts}

	pages := []struct {
		user, path string
		status     int
	}{
		{"", "/login", http.StatusOK},
		{"", "/wall/unknown-code", http.StatusNotFound},
		{"anna", "/", http.StatusOK},
		{"anna", "/?kiosk=1", http.StatusOK},
		{"anna", "/wall", http.StatusOK},
		{"anna", "/history", http.StatusOK},
		{"anna", "/history?outcome=bogus", http.StatusOK},
		{"anna", "/history?from=2026-12-31&to=2026-01-01", http.StatusOK},
		{"anna", "/settings/devices", http.StatusOK},
		{"anna", "/no/such/page", http.StatusNotFound},
		{"anna", "/softphone", http.StatusOK},
		{"bob", "/softphone", http.StatusOK},
		{"vera", "/settings/devices", http.StatusForbidden},
		{"olga", "/panel", http.StatusOK},
		{"bob", "/panel", http.StatusForbidden},
	}
	for _, lang := range []struct{ accept, want string }{{"en-GB,en;q=0.9", "en"}, {"de-DE,de;q=0.9", "de"}} {
		clients := map[string]*http.Client{"": e.client(t)}
		for _, u := range []string{"anna", "olga", "bob", "vera"} {
			clients[u] = e.client(t)
			e.login(t, clients[u], u)
		}
		for _, p := range pages {
			t.Run(lang.want+p.path+"_"+p.user, func(t *testing.T) {
				resp, body := get(t, clients[p.user], ts.URL+p.path, "Accept-Language", lang.accept)
				if resp.StatusCode != p.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, p.status)
				}
				if i := strings.Index(body, missingMark); i >= 0 {
					t.Errorf("missing message: %s", body[i:min(len(body), i+80)])
				}
				doc := parseHTML(t, body)
				if got, _ := doc.Find("html").Attr("lang"); got != lang.want {
					t.Errorf("<html lang=%q>, want %q", got, lang.want)
				}
				if !strings.Contains(doc.Find("script#i18n").Text(), `"lang":"`+lang.want+`"`) {
					t.Errorf("script catalogue is not the page's language")
				}
				if p.path == "/" {
					via := map[string]string{"en": "via sb-2", "de": "über sb-2"}[lang.want]
					if got := doc.Find(`[data-testid="source"][data-name="pbx"] [data-testid="source-node"]`).Text(); got != via {
						t.Errorf("pbx's node says %q, want %q", got, via)
					}
					if n := doc.Find(`[data-testid="source"][data-name="home"] [data-testid="source-node"]`).Length(); n != 0 {
						t.Errorf("home, a source without a node, names one")
					}
				}
				if lang.want != "de" {
					return
				}
				for _, s := range pageTexts(doc) {
					// „Quoted“ are the reader's own words and the values
					// of parameters.
					s = quoted.ReplaceAllString(s, "")
					if w := englishWords.FindString(s); w != "" {
						t.Errorf("English %q left on the German page: %q", w, s)
					}
				}
			})
		}
	}
}

// TestLanguageChoiceSticks switches the language on a page: the choice
// wins over Accept-Language, holds on the signed-out sign-in page by its
// cookie, and follows the user to a sign-in in another browser.
func TestLanguageChoiceSticks(t *testing.T) {
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	lang := func(c *http.Client, path string) string {
		t.Helper()
		_, body := get(t, c, e.ts.URL+path, "Accept-Language", "en-US")
		got, _ := parseHTML(t, body).Find("html").Attr("lang")
		return got
	}
	anon := e.client(t)
	if got := lang(anon, "/login"); got != "en" {
		t.Fatalf("before a choice: %s", got)
	}
	resp, _ := postForm(t, anon, e.ts.URL+"/language", url.Values{"lang": {"de"}, "next": {"/login"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("switch signed out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := lang(anon, "/login"); got != "de" {
		t.Errorf("sign-in page after choosing German: %s", got)
	}
	// Signing in takes the choice made on the sign-in page along.
	csrf := e.login(t, anon, "anna")
	if got := lang(anon, "/"); got != "de" {
		t.Errorf("wallboard after sign-in: %s", got)
	}
	if got, _ := e.srv.sessions.UserLanguage(context.Background(), "anna"); got != "de" {
		t.Errorf("stored choice %q, want de", got)
	}
	// Signed in, the switch needs the form's token.
	if resp, _ := postForm(t, anon, e.ts.URL+"/language", url.Values{"lang": {"en"}, "next": {"/"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("switch without token: %d, want 403", resp.StatusCode)
	}
	resp, _ = postForm(t, anon, e.ts.URL+"/language", url.Values{"lang": {"de"}, "next": {"/history"}, "csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/history" {
		t.Fatalf("switch signed in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Another browser, asking for English: the user's choice wins.
	other := e.client(t)
	e.login(t, other, "anna")
	if got := lang(other, "/history"); got != "de" {
		t.Errorf("another browser of the same user: %s, want de", got)
	}
	if got := lang(e.client(t), "/login"); got != "en" {
		t.Errorf("a stranger's browser: %s, want en", got)
	}
	for _, bad := range []url.Values{{"lang": {"xx"}}, {"lang": {""}}, {"lang": {"de"}, "next": {"//evil.example"}}} {
		resp, _ := postForm(t, e.client(t), e.ts.URL+"/language", bad)
		if bad.Get("lang") == "de" {
			if loc := resp.Header.Get("Location"); loc != "/" {
				t.Errorf("next %q: went to %q, want /", bad.Get("next"), loc)
			}
			continue
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("lang %q: %d, want 400", bad.Get("lang"), resp.StatusCode)
		}
	}
}

// TestProblemSaysInLanguage checks an error made with problem: English
// in its Error text (logs, the API), the reader's language on a page.
func TestProblemSaysInLanguage(t *testing.T) {
	c, err := LoadCatalogue(localeFiles)
	if err != nil {
		t.Fatal(err)
	}
	err = problem(ErrBadRequest, "error.device_name_long", "Max", 64)
	if got := err.Error(); got != "bad request: a screen's name has at most 64 characters" {
		t.Errorf("Error() = %q", got)
	}
	de := WithLocale(context.Background(), c.Locale(language.German))
	if got := Say(de, err); got != "Der Name eines Bildschirms hat höchstens 64 Zeichen." {
		t.Errorf("Say in German = %q", got)
	}
}

// TestWallScreenLanguage: an admin makes a wall-screen link for a
// language; the screen that opens it shows that language whatever its
// browser asks for, and an unknown language is refused.
func TestWallScreenLanguage(t *testing.T) {
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	admin := e.client(t)
	tok := e.login(t, admin, "anna")
	resp, body := post(t, admin, e.ts.URL+"/api/wall-links", `{"name":"Flur-TV","lang":"xx"}`, csrfHeader, tok, "Accept-Language", "de")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"message":"Sprache „xx“`) {
		t.Errorf("unknown language: %d %s", resp.StatusCode, body)
	}
	resp, body = post(t, admin, e.ts.URL+"/api/wall-links", `{"name":"Flur-TV","lang":"de"}`, csrfHeader, tok)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("link: %d %s", resp.StatusCode, body)
	}
	var link struct{ URL string }
	if err := json.Unmarshal([]byte(body), &link); err != nil {
		t.Fatal(err)
	}
	tv := e.client(t)
	resp, _ = get(t, tv, link.URL, "Accept-Language", "en-US")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("open link: %d", resp.StatusCode)
	}
	_, page := get(t, tv, e.ts.URL+"/wall", "Accept-Language", "en-US")
	if got, _ := parseHTML(t, page).Find("html").Attr("lang"); got != "de" {
		t.Errorf("wall screen shows %q, want de", got)
	}
}

// FuzzMatch: whatever a browser sends as its language or cookie, the
// page gets one of the catalogue's languages.
func FuzzMatch(f *testing.F) {
	c, err := LoadCatalogue(localeFiles)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range [][2]string{{"", "de-DE,de;q=0.9,en;q=0.8"}, {"de", ""}, {"xx", "fr;q=0.5,*"}, {"", "de-CH-1901-x-private;q=0.7"},
		{"en-GB", ";;;"}, {"", strings.Repeat("de,", 200)}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, chosen, accept string) {
		got := c.Match(chosen, accept)
		if !slices.Contains(c.Languages(), got) {
			t.Fatalf("Match(%q, %q) = %s, not a catalogue language", chosen, accept, got)
		}
		if tag, ok := c.known(chosen); ok && got != tag {
			t.Fatalf("Match(%q, %q) = %s, want the chosen %s", chosen, accept, got, tag)
		}
	})
}
