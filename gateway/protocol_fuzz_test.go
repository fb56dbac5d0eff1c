package gateway

import (
	"bufio"
	"os"
	"testing"

	"github.com/pion/webrtc/v4"
)

// FuzzParseClientMessage feeds page messages (seeded from testdata, whole
// and split in two) to the parser, the SDP payload-type mapping and the
// reading of an offer's codecs: none may panic, and an accepted dial or
// transfer target is safe to put into a SIP URI.
func FuzzParseClientMessage(f *testing.F) {
	file, err := os.Open("testdata/messages.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		f.Add(line)
		f.Add(line[:len(line)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseClientMessage(b)
		// What the reply echoes is bounded, whatever the page sent.
		if len(m.Call) > maxCallID || len(m.Consult) > maxCallID || len(m.ID) > maxClientID {
			t.Fatalf("echoed ids of %d, %d, %d bytes (err %v)", len(m.Call), len(m.Consult), len(m.ID), err)
		}
		if err != nil {
			return
		}
		if m.Type == MsgDial || m.Type == MsgTransfer {
			for _, r := range m.To {
				if r == '\r' || r == '\n' || r == '<' || r == '>' || r == ' ' {
					t.Fatalf("dial target %q accepted", m.To)
				}
			}
		}
		if m.SDP != nil {
			var pt [128]int16
			d := &webrtc.SessionDescription{Type: m.SDP.Type, SDP: m.SDP.SDP}
			ptMap(&pt, d, sipPCMU, 101, true)
			for _, c := range sdpCodecs(d) {
				if c.Channels == 0 || c.PayloadType > 127 {
					t.Fatalf("codec %+v from %q", c, m.SDP.SDP)
				}
			}
		}
	})
}
