package gateway

import (
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// senderReportInterval is how often each page-bound stream gets an RTCP
// sender report, as pion's sender-report interceptor sends them.
const senderReportInterval = time.Second

// senderReports sends the RTCP sender reports (RFC 3550 section 6.4.1) of
// every page-bound stream, which the browser needs to map RTP time to wall
// clock, from one goroutine for all PeerConnections. pion's interceptor
// for it runs a goroutine with a ticker per PeerConnection for one report
// a second. It is an interceptor factory: each PeerConnection gets an
// srInterceptor that counts what its streams send and registers them
// here. The goroutine runs while any stream is registered: it starts with
// the first and ends when the last is unbound, so it is owned by the
// PeerConnections that use it and ends with them.
type senderReports struct {
	interval time.Duration

	mu      sync.Mutex
	streams map[*srStream]struct{}
	// stop ends the running loop (nil when none runs).
	stop chan struct{}
}

func newSenderReports(interval time.Duration) *senderReports {
	return &senderReports{interval: interval, streams: map[*srStream]struct{}{}}
}

// NewInterceptor is the interceptor of one PeerConnection.
func (r *senderReports) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &srInterceptor{r: r, streams: map[uint32]*srStream{}}, nil
}

func (r *senderReports) add(s *srStream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.streams[s] = struct{}{}
	if r.stop == nil {
		r.stop = make(chan struct{})
		go r.loop(r.stop)
	}
}

func (r *senderReports) remove(s *srStream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.streams, s)
	if len(r.streams) == 0 && r.stop != nil {
		close(r.stop)
		r.stop = nil
	}
}

// loop sends every stream's report each interval until stop closes.
func (r *senderReports) loop(stop <-chan struct{}) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	var due []*srStream
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			due = due[:0]
			r.mu.Lock()
			for s := range r.streams {
				due = append(due, s)
			}
			r.mu.Unlock()
			// Outside the lock: a write encrypts and sends.
			for _, s := range due {
				s.send(now)
			}
			clear(due)
		}
	}
}

// srInterceptor is senderReports in one PeerConnection: it takes the
// connection's RTCP writer and counts the packets of its local streams.
type srInterceptor struct {
	interceptor.NoOp
	r *senderReports

	mu      sync.Mutex
	writer  interceptor.RTCPWriter
	streams map[uint32]*srStream
	closed  bool
}

// BindRTCPWriter keeps the connection's writer for the reports.
func (i *srInterceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	i.mu.Lock()
	i.writer = w
	i.mu.Unlock()
	return w
}

// BindLocalStream counts what the stream sends; it allocates nothing per
// packet.
func (i *srInterceptor) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	s := &srStream{i: i, ssrc: info.SSRC, clock: float64(info.ClockRate)}
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		return w
	}
	old := i.streams[info.SSRC]
	i.streams[info.SSRC] = s
	i.mu.Unlock()
	if old != nil {
		i.r.remove(old)
	}
	i.r.add(s)
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		s.sent(time.Now(), h, len(payload))
		return w.Write(h, payload, a)
	})
}

// UnbindLocalStream stops the stream's reports.
func (i *srInterceptor) UnbindLocalStream(info *interceptor.StreamInfo) {
	i.mu.Lock()
	s := i.streams[info.SSRC]
	delete(i.streams, info.SSRC)
	i.mu.Unlock()
	if s != nil {
		i.r.remove(s)
	}
}

// Close stops the reports of all the connection's streams.
func (i *srInterceptor) Close() error {
	i.mu.Lock()
	i.closed = true
	streams := i.streams
	i.streams = map[uint32]*srStream{}
	i.mu.Unlock()
	for _, s := range streams {
		i.r.remove(s)
	}
	return nil
}

func (i *srInterceptor) rtcpWriter() interceptor.RTCPWriter {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.writer
}

// srStream is what one local stream has sent, as pion's sender-report
// interceptor counts it.
type srStream struct {
	i     *srInterceptor
	ssrc  uint32
	clock float64

	mu sync.Mutex
	// lastTS is the RTP timestamp of the latest frame's first packet and
	// lastAt when it was sent; lastSeq the latest sequence number in order.
	lastTS  uint32
	lastAt  time.Time
	lastSeq uint16
	packets uint32
	octets  uint32
}

// sent counts a packet with n payload octets sent at now. A packet out of
// order (a sequence number behind the latest) counts but does not move
// the timestamp mapping.
func (s *srStream) sent(now time.Time, h *rtp.Header, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	diff := h.SequenceNumber - s.lastSeq
	if s.packets == 0 || (diff > 0 && diff < 1<<15) {
		s.lastSeq = h.SequenceNumber
		if h.Timestamp != s.lastTS || s.packets == 0 {
			s.lastTS, s.lastAt = h.Timestamp, now
		}
	}
	s.packets++
	// The count wraps, as RFC 3550 section 6.4.1 allows.
	s.octets += uint32(n)
}

// report is the stream's sender report at now; nil before its first
// packet (a source that has sent nothing sends no SR, RFC 3550 6.4).
func (s *srStream) report(now time.Time) *rtcp.SenderReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.packets == 0 {
		return nil
	}
	return &rtcp.SenderReport{
		SSRC:        s.ssrc,
		NTPTime:     ntpTime(now),
		RTPTime:     s.lastTS + uint32(now.Sub(s.lastAt).Seconds()*s.clock),
		PacketCount: s.packets,
		OctetCount:  s.octets,
	}
}

// send writes the stream's report at now; a failed write (the connection
// closing) loses one report.
func (s *srStream) send(now time.Time) {
	sr := s.report(now)
	w := s.i.rtcpWriter()
	if sr == nil || w == nil {
		return
	}
	_, _ = w.Write([]rtcp.Packet{sr}, interceptor.Attributes{})
}

// ntpEpochOffset is the seconds from 1900 (NTP) to 1970 (Unix).
const ntpEpochOffset = 2208988800

// ntpTime is t as a 64-bit NTP timestamp: seconds since 1900 and the
// fraction of a second in 1/2^32.
func ntpTime(t time.Time) uint64 {
	ns := t.UnixNano()
	sec := uint64(ns/1e9) + ntpEpochOffset
	frac := (uint64(ns%1e9) << 32) / 1e9
	return sec<<32 | frac
}
