package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzSessionCookie sends made-up session cookies (to pages and the
// API): nobody is signed in by one, and none makes a server error.
func FuzzSessionCookie(f *testing.F) {
	for _, s := range []string{"", "x", strings.Repeat("A", 43), "%00", "a b", "\xff\xfe", randomToken(32)} {
		f.Add(s)
	}
	srv := fuzzEnv(f)
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, v string) {
		for _, path := range []string{"/api/today", "/wall", "/settings/devices"} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Cookie", sessionCookie+"="+v)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized && rec.Code != http.StatusSeeOther {
				t.Fatalf("%s with cookie %q: status %d, want 401 or a redirect to sign in", path, v, rec.Code)
			}
		}
	})
}

// FuzzDeviceName checks the names admins give wall screens: a name that
// is taken is trimmed, one line of valid text, 1 to 64 characters, and
// taking it again gives the same.
func FuzzDeviceName(f *testing.F) {
	for _, s := range []string{"Hall TV", "  Küche  ", "", "\t", "two\nlines", strings.Repeat("x", 65), "\xff", "TV\u0000", "Empfang 2. OG 📺"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := deviceName(raw)
		if err != nil {
			return
		}
		if n == "" || n != strings.TrimSpace(n) || !utf8.ValidString(n) || utf8.RuneCountInString(n) > maxDeviceName || strings.IndexFunc(n, unicode.IsControl) >= 0 {
			t.Fatalf("deviceName(%q) = %q", raw, n)
		}
		if again, err := deviceName(n); err != nil || again != n {
			t.Fatalf("deviceName(%q) = %q %v, want it unchanged", n, again, err)
		}
	})
}
