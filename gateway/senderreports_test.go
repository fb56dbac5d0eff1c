package gateway

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

func TestNTPTime(t *testing.T) {
	tests := []struct {
		at   time.Time
		want uint64
	}{
		{at: time.Unix(0, 0), want: 2208988800 << 32},
		{at: time.Unix(1, 500_000_000), want: 2208988801<<32 | 1<<31},
		{at: time.Unix(1_700_000_000, 250_000_000), want: (1_700_000_000+2208988800)<<32 | 1<<30},
	}
	for _, tc := range tests {
		if got := ntpTime(tc.at); got != tc.want {
			t.Errorf("ntpTime(%v) = %#x, want %#x", tc.at, got, tc.want)
		}
	}
}

func TestSenderReportCounts(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	type pkt struct {
		after time.Duration
		seq   uint16
		ts    uint32
		n     int
	}
	tests := []struct {
		name string
		pkts []pkt
		at   time.Duration
		// nil: no report.
		want *rtcp.SenderReport
	}{
		{name: "nothing sent", at: time.Second},
		{
			name: "timestamp carried on to the report's time",
			pkts: []pkt{{0, 10, 0, 160}, {20 * time.Millisecond, 11, 160, 160}},
			at:   120 * time.Millisecond,
			want: &rtcp.SenderReport{RTPTime: 160 + 800, PacketCount: 2, OctetCount: 320},
		},
		{
			name: "a late packet counts but does not move the mapping",
			pkts: []pkt{{0, 10, 8000, 160}, {20 * time.Millisecond, 12, 8320, 160}, {30 * time.Millisecond, 11, 8160, 160}},
			at:   20 * time.Millisecond,
			want: &rtcp.SenderReport{RTPTime: 8320, PacketCount: 3, OctetCount: 480},
		},
		{
			name: "sequence numbers wrap",
			pkts: []pkt{{0, 65535, 100, 10}, {20 * time.Millisecond, 0, 260, 10}},
			at:   20 * time.Millisecond,
			want: &rtcp.SenderReport{RTPTime: 260, PacketCount: 2, OctetCount: 20},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &srStream{ssrc: 7, clock: 8000}
			for _, p := range tc.pkts {
				s.sent(t0.Add(p.after), &rtp.Header{SequenceNumber: p.seq, Timestamp: p.ts}, p.n)
			}
			got := s.report(t0.Add(tc.at))
			if tc.want == nil {
				if got != nil {
					t.Fatalf("report = %+v, want none", got)
				}
				return
			}
			tc.want.SSRC, tc.want.NTPTime = 7, ntpTime(t0.Add(tc.at))
			if got == nil || got.SSRC != tc.want.SSRC || got.NTPTime != tc.want.NTPTime || got.RTPTime != tc.want.RTPTime || got.PacketCount != tc.want.PacketCount || got.OctetCount != tc.want.OctetCount {
				t.Errorf("report = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// rtcpRecorder is a PeerConnection's RTCP writer that keeps what it gets.
type rtcpRecorder struct {
	got chan []rtcp.Packet
}

func (w *rtcpRecorder) Write(p []rtcp.Packet, _ interceptor.Attributes) (int, error) {
	w.got <- p
	return len(p), nil
}

func TestSenderReportsOneLoopForAllConnections(t *testing.T) {
	r := newSenderReports(10 * time.Millisecond)
	var recs []*rtcpRecorder
	var writers []interceptor.RTPWriter
	var ics []interceptor.Interceptor
	for ssrc := uint32(1); ssrc <= 3; ssrc++ {
		ic, err := r.NewInterceptor("")
		if err != nil {
			t.Fatal(err)
		}
		rec := &rtcpRecorder{got: make(chan []rtcp.Packet, 64)}
		ic.BindRTCPWriter(rec)
		w := ic.BindLocalStream(&interceptor.StreamInfo{SSRC: ssrc, ClockRate: 8000}, interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil }))
		recs, writers, ics = append(recs, rec), append(writers, w), append(ics, ic)
	}
	// The third has sent nothing and gets no report.
	for i, w := range writers[:2] {
		if _, err := w.Write(&rtp.Header{SequenceNumber: 1, Timestamp: 160, SSRC: uint32(i + 1)}, make([]byte, 160), nil); err != nil {
			t.Fatal(err)
		}
	}
	for i, rec := range recs[:2] {
		select {
		case p := <-rec.got:
			sr, ok := p[0].(*rtcp.SenderReport)
			if len(p) != 1 || !ok || sr.SSRC != uint32(i+1) || sr.PacketCount != 1 || sr.OctetCount != 160 {
				t.Errorf("connection %d got %+v", i+1, p)
			}
		case <-time.After(testTimeout):
			t.Fatalf("connection %d got no report", i+1)
		}
	}
	select {
	case p := <-recs[2].got:
		t.Errorf("a stream that sent nothing got %+v", p)
	default:
	}
	for _, ic := range ics {
		if err := ic.Close(); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	running, left := r.stop != nil, len(r.streams)
	r.mu.Unlock()
	if running || left != 0 {
		t.Errorf("after every connection closed: loop running %v, %d streams", running, left)
	}
}
