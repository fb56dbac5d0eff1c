package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

// FuzzForwarded feeds made-up forwarding headers from a trusted and an
// untrusted peer: the client is always the peer or an address the
// headers name, and an untrusted peer is never anyone but itself.
func FuzzForwarded(f *testing.F) {
	for _, s := range [][2]string{
		{"203.0.113.1", ""},
		{"1.2.3.4, 203.0.113.1, 10.0.0.2", ""},
		{"", `for=203.0.113.1;proto=https, for="[2001:db8::1]:443"`},
		{"", `for="\"quoted\\",;;,,`},
		{"::ffff:10.0.0.1,fe80::1%eth0", "for=unknown"},
	} {
		f.Add(s[0], s[1])
	}
	trusted, _ := parseProxies([]string{"10.0.0.0/8"})
	f.Fuzz(func(t *testing.T, xff, fwd string) {
		h := http.Header{}
		if xff != "" {
			h.Set("X-Forwarded-For", xff)
		}
		if fwd != "" {
			h.Set("Forwarded", fwd)
		}
		peer := netip.MustParseAddr("10.0.0.1")
		got := forwardedClient(peer, h, trusted)
		if !got.IsValid() {
			t.Fatalf("no client for %q %q", xff, fwd)
		}
		named := map[netip.Addr]bool{peer: true}
		hops := forwardedFor(h.Values("Forwarded"))
		hops = append(hops, strings.Split(xff, ",")...)
		for _, hop := range hops {
			if a, ok := hopAddr(hop); ok {
				named[a] = true
			}
		}
		if !named[got] {
			t.Fatalf("client %s named by neither the peer nor the headers %q %q", got, xff, fwd)
		}
		stranger := netip.MustParseAddr("198.51.100.9")
		if c := forwardedClient(stranger, h, trusted); c != stranger {
			t.Fatalf("untrusted peer became %s", c)
		}
		_ = addrKey(got)
	})
}

// fuzzEnv is a server for the handler fuzz targets, answered in-process.
func fuzzEnv(f *testing.F) *Server {
	f.Helper()
	hub := monitor.NewHub(monitor.HubConfig{})
	f.Cleanup(hub.Close)
	hub.SourceStatus(monitor.SourceStatus{Name: "home", Type: "fritz", State: monitor.LinkConnected})
	srv, err := New(testConfig(f), Deps{Hub: hub, History: &fakeHistory{}}, WithLogger(quietLogger()))
	if err != nil {
		f.Fatal(err)
	}
	return srv
}

// wantJSONError checks an API answer: a known status and a JSON body.
func wantJSONError(t *testing.T, rec *httptest.ResponseRecorder, ok ...int) {
	t.Helper()
	for _, s := range ok {
		if rec.Code == s {
			var v map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Fatalf("status %d, body %q is not JSON: %v", rec.Code, rec.Body, err)
			}
			if rec.Code >= 400 && v["error"] == "" {
				t.Fatalf("status %d without an error: %s", rec.Code, rec.Body)
			}
			return
		}
	}
	t.Fatalf("status %d (%s), want one of %v", rec.Code, rec.Body, ok)
}

// FuzzLoginForm posts made-up sign-in forms, with a valid form token so
// that the name, password and next fields reach the check: the answer is
// one of the sign-in's own, never a server error, and a redirect never
// leaves the site.
func FuzzLoginForm(f *testing.F) {
	for _, s := range [][3]string{
		{"anna", testPassword, "/history?number=1"},
		{"anna", "wrong", "//evil.example/"},
		{"nobody", "", "https://evil.example"},
		{strings.Repeat("n", 300), "\x00", "/\\evil"},
		{"bob", testPassword, "javascript:alert(1)"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	srv := fuzzEnv(f)
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, name, pw, next string) {
		form := url.Values{"csrf": {"tok"}, "name": {name}, "password": {pw}, "next": {next}}.Encode()
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: loginCookieName("tok"), Value: "tok"})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusSeeOther:
			loc := rec.Header().Get("Location")
			if u, err := url.Parse(loc); err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
				t.Fatalf("redirect to %q leaves the site", loc)
			}
		case http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable:
		default:
			t.Fatalf("status %d for %q %q %q", rec.Code, name, pw, next)
		}
	})
}

// FuzzAPIQuery sends made-up query strings to the read API (the figures
// of the day among them), the history page and /events: JSON answers with 200 or 400 (426 for /events
// without an upgrade), pages 200, never a server error.
func FuzzAPIQuery(f *testing.F) {
	for _, q := range []string{
		"", "number=030&source=home&outcome=missed&limit=10&offset=20",
		"limit=-1", "limit=99999999999999999999", "outcome=%ff", "number=" + strings.Repeat("9", 70),
		"since=12&epoch=abc", "since=x&epoch=", "a=%zz", "offset=2147483648",
		"from=2026-11-01&to=2026-11-30", "from=2026-02-30", "to=2026-11-01&from=2026-11-02", "from=%20&bom=0", "bom=x",
	} {
		f.Add(q)
	}
	srv := fuzzEnv(f)
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, q string) {
		for _, path := range []string{"/api/history", "/api/calls", "/api/today", "/events"} {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL.Path, req.URL.RawQuery = path, q
			req.Header.Set("Authorization", "Bearer "+testViewerToken)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			wantJSONError(t, rec, http.StatusOK, http.StatusBadRequest, http.StatusUpgradeRequired)
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path, req.URL.RawQuery = "/history.csv", q
		req.Header.Set("Authorization", "Bearer "+testViewerToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			if ct := rec.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
				t.Fatalf("CSV export: Content-Type %q for %q", ct, q)
			}
		} else {
			wantJSONError(t, rec, http.StatusBadRequest)
		}
		req = httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path, req.URL.RawQuery = "/history", q
		req.Header.Set("Authorization", "Bearer "+testViewerToken)
		req.Header.Set("Accept", "text/html")
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("history page: status %d for %q", rec.Code, q)
		}
	})
}

// FuzzEventsQuery: whatever ?since=&epoch= says, resumeFrom gives a
// resume point only for a whole number and an epoch, and never panics.
func FuzzEventsQuery(f *testing.F) {
	for _, q := range []string{"since=41&epoch=3f1c", "since=&epoch=x", "since=-1&epoch=e", "since=18446744073709551616&epoch=e", "epoch=%00&since=0", "since=1&since=2&epoch=e"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := httptest.NewRequest(http.MethodGet, "/events", nil)
		r.URL.RawQuery = q
		res := resumeFrom(r)
		if res == nil {
			return
		}
		vals := r.URL.Query()
		if res.Epoch == "" || res.Epoch != vals.Get("epoch") {
			t.Fatalf("resume %+v from %q", res, q)
		}
	})
}
