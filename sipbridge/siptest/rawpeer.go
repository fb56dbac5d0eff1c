package siptest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// RawPeer is a UDP socket that sends hand-written SIP requests to one
// user agent and tallies its answers by Call-ID: a stranger on another
// loopback address, or a flood from the registrar's. It does what a UA's
// transaction layer would not let a test do (thousands of INVITEs at
// once, a hostile display name) and nothing else: no ACK, no dialog.
type RawPeer struct {
	conn *net.UDPConn
	to   *net.UDPAddr

	mu      sync.Mutex
	changed chan struct{}
	final   map[string]int  // Call-ID → final status
	ringing map[string]bool // Call-IDs that got 180
	any     int             // answers of any kind
	done    chan struct{}
}

// NewRawPeer binds local (an address of 127.0.0.0/8, port 0 for any) and
// sends to target (host:port); it reads answers until the test ends.
func NewRawPeer(t testing.TB, local, target string) *RawPeer {
	t.Helper()
	la, err := net.ResolveUDPAddr("udp4", local)
	if err != nil {
		t.Fatal(err)
	}
	if !la.IP.IsLoopback() {
		t.Fatalf("siptest: raw peer on %s: loopback only", local)
	}
	to, err := net.ResolveUDPAddr("udp4", target)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", la)
	if err != nil {
		t.Fatal(err)
	}
	p := &RawPeer{conn: conn, to: to, changed: make(chan struct{}), final: map[string]int{}, ringing: map[string]bool{}, done: make(chan struct{})}
	go p.read()
	t.Cleanup(func() {
		conn.Close()
		<-p.done
	})
	return p
}

func (p *RawPeer) read() {
	defer close(p.done)
	buf := make([]byte, 65536)
	for {
		n, err := p.conn.Read(buf)
		if err != nil {
			return
		}
		msg := string(buf[:n])
		line, _, _ := strings.Cut(msg, "\r\n")
		var code int
		if _, err := fmt.Sscanf(line, "SIP/2.0 %d", &code); err != nil {
			continue
		}
		cid := ""
		for _, h := range strings.Split(msg, "\r\n") {
			if v, ok := strings.CutPrefix(h, "Call-ID: "); ok {
				cid = v
			}
		}
		p.mu.Lock()
		p.any++
		switch {
		case code == 180:
			p.ringing[cid] = true
		case code >= 200:
			p.final[cid] = code
		}
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
}

// Invite sends a new INVITE for user with a PCMU offer, from caller
// number 666 named fromName; sending it again with the same callID is a
// retransmission (same branch).
func (p *RawPeer) Invite(user, callID, fromName string) error {
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	local := p.conn.LocalAddr().String()
	msg := fmt.Sprintf("INVITE sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s;rport\r\nMax-Forwards: 70\r\n"+
		"From: \"%s\" <sip:666@%s>;tag=f-%s\r\nTo: <sip:%s@127.0.0.1>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:666@%s>\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		user, p.to, local, callID, fromName, local, callID, user, callID, local, len(sdp), sdp)
	return p.send(msg)
}

// Options sends an out-of-dialog OPTIONS, what a scanner starts with.
func (p *RawPeer) Options(callID string) error {
	local := p.conn.LocalAddr().String()
	return p.send(fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:scan@%s>;tag=f-%s\r\nTo: <sip:%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		p.to, local, callID, local, callID, p.to, callID))
}

func (p *RawPeer) send(msg string) error {
	if _, err := p.conn.WriteToUDP([]byte(msg), p.to); err != nil {
		return fmt.Errorf("siptest: raw peer send: %w", err)
	}
	return nil
}

// Flood sends INVITEs for user with the Call-IDs format%d for 0..n-1
// (format holds one %d) and, like any UA over UDP (RFC 3261 section
// 17.1.1.2, Timer A), sends again every 500 ms those that got no answer
// yet, since a burst this size can overflow the receiver's socket buffer.
// It returns once every INVITE got at least a 180 or a final answer, or
// fails the test after d.
func (p *RawPeer) Flood(t testing.TB, user, format string, n int, d time.Duration) {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf(format, i)
		if err := p.Invite(user, ids[i], "Flood"); err != nil {
			t.Fatal(err)
		}
	}
	resend := time.NewTicker(500 * time.Millisecond)
	defer resend.Stop()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		var left []string
		p.mu.Lock()
		for _, id := range ids {
			if _, ok := p.final[id]; !ok && !p.ringing[id] {
				left = append(left, id)
			}
		}
		p.mu.Unlock()
		if len(left) == 0 {
			return
		}
		select {
		case <-resend.C:
			for _, id := range left {
				_ = p.Invite(user, id, "Flood")
			}
		case <-deadline.C:
			t.Fatalf("siptest: %d of %d INVITEs unanswered after %v", len(left), n, d)
		}
	}
}

// Wait waits until cond holds over the final answers (Call-ID → status)
// and the Call-IDs that got 180, or fails the test after d.
func (p *RawPeer) Wait(t testing.TB, d time.Duration, what string, cond func(final map[string]int, ringing map[string]bool) bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		ok := cond(p.final, p.ringing)
		ch := p.changed
		p.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			p.mu.Lock()
			defer p.mu.Unlock()
			t.Fatalf("%s: not within %v (%d final answers, %d ringing)", what, d, len(p.final), len(p.ringing))
		}
	}
}

// Answers is how many SIP responses arrived, of any kind.
func (p *RawPeer) Answers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.any
}

// Counts returns how many INVITEs got 180 and how many got each final
// status.
func (p *RawPeer) Counts() (ringing int, final map[int]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	final = map[int]int{}
	for _, c := range p.final {
		final[c]++
	}
	return len(p.ringing), final
}
