package sipbridge

import (
	"os"
	"path/filepath"
	"testing"
)

// seedDir adds every file of testdata/dir to f, whole and with a cut in
// the middle, as the SDP fuzz target does.
func seedDir(f *testing.F, dir string) {
	f.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*"))
	if len(files) == 0 {
		f.Fatalf("no seeds in testdata/%s", dir)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, len(b)/2)
	}
}

// parts is b whole and split at cut.
func parts(b []byte, cut int) [][]byte {
	if cut < 0 || cut > len(b) {
		cut = len(b)
	}
	return [][]byte{b, b[:cut], b[cut:]}
}

// FuzzParseSipfrag checks that any body either fails with ErrBadSipfrag
// or yields a status in range.
func FuzzParseSipfrag(f *testing.F) {
	seedDir(f, "sipfrag")
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		for _, p := range parts(b, cut) {
			s, err := parseSipfrag(p)
			if err != nil {
				continue
			}
			if s.status < 100 || s.status > 699 {
				t.Fatalf("status %d from %q", s.status, p)
			}
		}
	})
}

// FuzzParseReplaces checks that whatever parses writes out and parses
// back to the same dialog.
func FuzzParseReplaces(f *testing.F) {
	seedDir(f, "replaces")
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		for _, p := range parts(b, cut) {
			r, err := parseReplaces(string(p))
			if err != nil {
				continue
			}
			back, err := parseReplaces(r.String())
			if err != nil || back != r {
				t.Fatalf("%q → %+v → %q → %+v, %v", p, r, r.String(), back, err)
			}
		}
	})
}

// FuzzParseDTMFRelay checks that a parsed body always names a DTMF key,
// in both INFO forms.
func FuzzParseDTMFRelay(f *testing.F) {
	seedDir(f, "dtmf-relay")
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		for _, p := range parts(b, cut) {
			for _, parse := range []func([]byte) (dtmfInfo, error){parseDTMFRelay, parseDTMFBody} {
				d, err := parse(p)
				if err != nil {
					continue
				}
				if len(d.digit) != 1 {
					t.Fatalf("digit %q from %q", d.digit, p)
				}
				if _, ok := digitEvent(d.digit[0]); !ok {
					t.Fatalf("digit %q is no key", d.digit)
				}
			}
		}
	})
}

// FuzzParseTelephoneEvent feeds payloads to the parser and to a detector:
// the detector must never report something that is no key.
func FuzzParseTelephoneEvent(f *testing.F) {
	seedDir(f, "telephone-event")
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		var d eventDetector
		for i, p := range parts(b, cut) {
			e, err := parseTelephoneEvent(p)
			if err != nil {
				continue
			}
			var out [telephoneEventSize]byte
			e.put(out[:])
			if back, _ := parseTelephoneEvent(out[:]); back != e {
				t.Fatalf("round trip %+v → %+v", e, back)
			}
			if k, ok := d.packet(uint32(i)*1000, e); ok {
				if _, ok := digitEvent(k[0]); !ok || len(k) != 1 {
					t.Fatalf("detector reported %q", k)
				}
			}
		}
	})
}

// FuzzParseReferTo checks that a parsed Refer-To has a scheme and that
// a Replaces it carries is either malformed or a full dialog.
func FuzzParseReferTo(f *testing.F) {
	seedDir(f, "refer-to")
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		for _, p := range parts(b, cut) {
			r, err := parseReferTo(string(p))
			if err != nil {
				continue
			}
			if r.scheme == "" || r.uri == "" {
				t.Fatalf("%q parsed to %+v", p, r)
			}
			if v, ok := r.header("Replaces"); ok {
				if rep, err := parseReplaces(v); err == nil && (rep.toTag == "" || rep.fromTag == "" || rep.callID == "") {
					t.Fatalf("replaces %+v", rep)
				}
			}
		}
	})
}
