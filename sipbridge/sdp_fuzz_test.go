package sipbridge

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseSDP feeds the testdata SDPs, whole and split in two, and
// checks that parsing never panics and that whatever parses can be
// negotiated and written out again.
func FuzzParseSDP(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "sdp", "*.sdp"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, len(b)/2)
	}
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		if cut < 0 || cut > len(b) {
			cut = len(b)
		}
		for _, part := range [][]byte{b, b[:cut], b[cut:]} {
			s, err := ParseSDP(part)
			if err != nil {
				continue
			}
			audio, dtmf, err := Negotiate(s, []Codec{CodecOpus, CodecG722, CodecPCMU, CodecPCMA})
			if err != nil {
				continue
			}
			var ds []Codec
			if dtmf != nil {
				ds = append(ds, *dtmf)
			}
			out := buildSDP(sdpParams{addr: s.Addr, port: s.Port, codecs: []Codec{audio}, dtmf: ds, direction: s.Direction.reverse()})
			if _, err := ParseSDP(out); err != nil {
				t.Fatalf("own answer does not parse: %v\n%s", err, out)
			}
		}
	})
}
