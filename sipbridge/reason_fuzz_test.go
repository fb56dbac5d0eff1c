package sipbridge

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseReason feeds the testdata Reason values, whole and cut in two,
// and checks that parsing never panics, fails only with ErrBadReason, and
// that what it accepts has a token protocol and a cause in range.
func FuzzParseReason(f *testing.F) {
	seedDir(f, "reason")
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		for _, part := range parts(b, cut) {
			checkReason(t, string(part))
		}
	})
}

func checkReason(t *testing.T, in string) {
	t.Helper()
	rs, err := parseReason(in)
	if err != nil {
		if !errors.Is(err, ErrBadReason) {
			t.Fatalf("error %v is not ErrBadReason", err)
		}
		return
	}
	if len(rs) == 0 {
		t.Fatal("accepted with no reason-value")
	}
	for _, r := range rs {
		if r.Protocol == "" || r.Protocol != strings.ToUpper(r.Protocol) || r.Cause < 0 || r.Cause > 999 {
			t.Fatalf("reason %+v from %q", r, in)
		}
		for i := range len(r.Protocol) {
			if !isTokenChar(r.Protocol[i]) {
				t.Fatalf("protocol %q", r.Protocol)
			}
		}
	}
	_ = answeredElsewhere(rs)
}
