package gateway

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard/switchboard/sipbridge"
)

func fingerprintOf(t *testing.T, c webrtc.Certificate) string {
	t.Helper()
	fp, err := c.GetFingerprints()
	if err != nil || len(fp) == 0 {
		t.Fatalf("fingerprints: %v %v", fp, err)
	}
	return fp[0].Value
}

// ntpToTime is the wall clock of a 64-bit NTP timestamp.
func ntpToTime(v uint64) time.Time {
	sec := int64(v>>32) - ntpEpochOffset
	frac := int64(v & 0xffffffff)
	return time.Unix(sec, frac*1e9>>32)
}

func TestSharedCertificateIsRenewedBeforeItExpires(t *testing.T) {
	var c dtlsCert
	t0 := time.Now()
	first, err := c.get(t0)
	if err != nil {
		t.Fatal(err)
	}
	expires := first.Expires()
	if !expires.After(t0.Add(renewBefore)) {
		t.Fatalf("a new certificate expires at %v, within %v of now", expires, renewBefore)
	}
	tests := []struct {
		name string
		at   time.Time
		same bool
	}{
		{name: "again at once", at: t0, same: true},
		{name: "a day later", at: t0.Add(24 * time.Hour), same: true},
		{name: "just before the renewal", at: expires.Add(-renewBefore - time.Minute), same: true},
		{name: "within a week of the expiry", at: expires.Add(-renewBefore + time.Minute), same: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.get(tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if same := fingerprintOf(t, got) == fingerprintOf(t, first); same != tc.same {
				t.Errorf("same certificate = %v, want %v", same, tc.same)
			}
			if !tc.same && !got.Expires().After(tc.at.Add(renewBefore)) {
				t.Errorf("renewed certificate expires at %v, within %v of %v", got.Expires(), renewBefore, tc.at)
			}
		})
	}
}

func TestNetworkIsReadAgainAfterItsAge(t *testing.T) {
	var c netCache
	t0 := time.Now()
	first := c.get(t0)
	if first == nil {
		t.Fatal("no network")
	}
	tests := []struct {
		name string
		at   time.Time
		same bool
	}{
		{name: "at once", at: t0, same: true},
		{name: "just within the age", at: t0.Add(netMaxAge - time.Millisecond), same: true},
		{name: "the clock went back", at: t0.Add(-time.Second), same: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if same := c.get(tc.at) == first; same != tc.same {
				t.Errorf("same network = %v, want %v", same, tc.same)
			}
		})
	}
	var d netCache
	n := d.get(t0)
	if d.get(t0.Add(netMaxAge)) == n {
		t.Error("the network was not read again after netMaxAge")
	}
}

func TestDropRTCP(t *testing.T) {
	d := newDropRTCP()
	if n, err := d.Write(make([]byte, 80)); n != 80 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	read := make(chan error, 1)
	go func() {
		_, err := d.Read(make([]byte, 1500))
		read <- err
	}()
	select {
	case err := <-read:
		t.Fatalf("Read returned %v before Close", err)
	default:
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case err := <-read:
		if !errors.Is(err, io.EOF) {
			t.Errorf("Read after Close = %v, want io.EOF", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Read did not return after Close")
	}
}

// All pages see one DTLS fingerprint, and in a call the page still gets
// the gateway's sender reports while the RTCP the page sends is dropped.
func TestPagesShareACertificateAndGetSenderReports(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	a := openBrowser(t, base, "anna", capPCMU)
	b := openBrowser(t, base, "anna", capPCMU)
	fa, fb := sdpLine(a.offers[0], "fingerprint"), sdpLine(b.offers[0], "fingerprint")
	if fa == "" || fa != fb {
		t.Errorf("fingerprints %q and %q, want one for both pages", fa, fb)
	}

	a.send(map[string]any{"type": "dial", "account": "1001", "to": "1002"})
	c := <-sip.dialed
	c.connect(sipPCMU)
	a.expectCall(sipbridge.StateConnected)
	a.playTone(440)
	far := startFarEnd(t, c, 1000, sipPCMU.PayloadType)

	// The page reports on what it receives and what it sends, as a
	// browser does every second, but much faster.
	recv := a.pc.GetReceivers()
	send := a.pc.GetSenders()
	if len(recv) != 1 || len(send) != 1 || len(send[0].GetParameters().Encodings) != 1 {
		t.Fatalf("page has %d receivers and %d senders", len(recv), len(send))
	}
	mine := uint32(send[0].GetParameters().Encodings[0].SSRC)
	stopRTCP := make(chan struct{})
	rtcpDone := make(chan struct{})
	go func() {
		defer close(rtcpDone)
		for i := 0; ; i++ {
			select {
			case <-stopRTCP:
				return
			case <-time.After(time.Millisecond):
			}
			_ = a.pc.WriteRTCP([]rtcp.Packet{
				&rtcp.SenderReport{SSRC: mine, PacketCount: uint32(i), Reports: []rtcp.ReceptionReport{{SSRC: 12345 + uint32(i%4)}}},
				&rtcp.ReceiverReport{SSRC: mine, Reports: []rtcp.ReceptionReport{{SSRC: 99 + uint32(i%4)}}},
			})
		}
	}()
	defer func() { close(stopRTCP); <-rtcpDone }()

	toFar := far.heard.arm(8000)
	toPage := a.heard.arm(8000)
	waitFull(t, toFar, "page → SIP")
	waitFull(t, toPage, "SIP → page")

	srs := make(chan *rtcp.SenderReport, 1)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := recv[0].Read(buf)
			if err != nil {
				return
			}
			pkts, err := rtcp.Unmarshal(buf[:n])
			if err != nil {
				continue
			}
			for _, p := range pkts {
				if sr, ok := p.(*rtcp.SenderReport); ok {
					select {
					case srs <- sr:
					default:
					}
					return
				}
			}
		}
	}()
	select {
	case sr := <-srs:
		if sr.PacketCount == 0 || sr.SSRC != uint32(recv[0].Track().SSRC()) {
			t.Errorf("sender report %+v, want one of the page's track (SSRC %d) with packets counted", sr, recv[0].Track().SSRC())
		}
		// The report maps RTP time to wall clock as the packets the page
		// got do: its RTP time is the latest packet's, carried on at 8 kHz
		// to the report's wall clock (2 s of slack for packets that took
		// their time on a loaded machine; a wrong clock rate or offset is
		// far off).
		ts, at := a.heard.latest()
		want := ts + uint32(ntpToTime(sr.NTPTime).Sub(at).Seconds()*8000)
		if d := int32(sr.RTPTime - want); d > 16000 || d < -16000 {
			t.Errorf("sender report RTP time %d, want ≈ %d (the page's latest packet %d at %v, the report at %v)", sr.RTPTime, want, ts, at, ntpToTime(sr.NTPTime))
		}
	case <-time.After(testTimeout):
		t.Fatal("no sender report reached the page")
	}
}
