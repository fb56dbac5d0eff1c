package sipbridge

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// rawPeer is a UDP socket sending hand-written SIP requests to the bridge
// and tallying the answers by Call-ID.
type rawPeer struct {
	conn *net.UDPConn
	to   *net.UDPAddr

	mu      sync.Mutex
	changed chan struct{}
	final   map[string]int  // Call-ID → final status
	ringing map[string]bool // Call-IDs that got 180
	any     int             // answers of any kind
	done    chan struct{}
}

// newRawPeer binds local (an address of the loopback network) and reads
// what comes back until the test ends.
func newRawPeer(t *testing.T, local string, b *Bridge) *rawPeer {
	t.Helper()
	la, err := net.ResolveUDPAddr("udp4", local)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", la)
	if err != nil {
		t.Fatal(err)
	}
	to, ok := b.sip.udpC.LocalAddr().(*net.UDPAddr)
	if !ok {
		t.Fatal("bridge address")
	}
	p := &rawPeer{conn: conn, to: to, changed: make(chan struct{}), final: map[string]int{}, ringing: map[string]bool{}, done: make(chan struct{})}
	go p.read()
	t.Cleanup(func() {
		conn.Close()
		<-p.done
	})
	return p
}

func (p *rawPeer) read() {
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

// invite sends a new INVITE for user with a PCMU offer.
func (p *rawPeer) invite(t *testing.T, user, callID, fromName string) {
	t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(p.inviteText(user, callID, fromName)), p.to); err != nil {
		t.Fatal(err)
	}
}

// resendInvite sends the INVITE again, unchanged (a retransmission).
func (p *rawPeer) resendInvite(user, callID string) {
	_, _ = p.conn.WriteToUDP([]byte(p.inviteText(user, callID, "Flood")), p.to)
}

// unanswered lists the Call-IDs made from format and 0..n-1 that got no
// answer yet.
func (p *rawPeer) unanswered(n int, format string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for i := range n {
		id := fmt.Sprintf(format, i)
		if _, ok := p.final[id]; !ok && !p.ringing[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

func (p *rawPeer) inviteText(user, callID, fromName string) string {
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	local := p.conn.LocalAddr().String()
	return fmt.Sprintf("INVITE sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s;rport\r\nMax-Forwards: 70\r\n"+
		"From: \"%s\" <sip:666@%s>;tag=f-%s\r\nTo: <sip:%s@127.0.0.1>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:666@%s>\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		user, p.to, local, callID, fromName, local, callID, user, callID, local, len(sdp), sdp)
}

// options sends an out-of-dialog OPTIONS (what scanners start with).
func (p *rawPeer) options(t *testing.T, callID string) {
	t.Helper()
	local := p.conn.LocalAddr().String()
	p.send(t, fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:scan@%s>;tag=f-%s\r\nTo: <sip:%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		p.to, local, callID, local, callID, p.to, callID))
}

func (p *rawPeer) send(t *testing.T, msg string) {
	t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(msg), p.to); err != nil {
		t.Fatal(err)
	}
}

// wait waits until cond holds over the tallies, or fails after d.
func (p *rawPeer) wait(t *testing.T, d time.Duration, what string, cond func(final map[string]int, ringing map[string]bool) bool) {
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

// answers is how many SIP responses arrived at all.
func (p *rawPeer) answers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.any
}

// TestStrangerGetsNoRing: an INVITE and an OPTIONS from an address that is
// not the account's registrar (another loopback address) get no answer at
// all, ring nobody and reach neither the monitor nor the history; the
// registrar's own requests are answered as before.
func TestStrangerGetsNoRing(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio")
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{})
	var rang atomic.Int32
	br := startBridge(t, Config{Accounts: []AccountConfig{testAccount("office", "1000", "pw1000", kam.Addr(), 60)}}, func(c *Call) {
		rang.Add(1)
		go func() { _ = c.Reject(context.Background(), 486) }()
		go func() {
			for range c.Events() {
			}
		}()
	})
	br.sink.waitStatus(t, "office", monitor.LinkRegistered, 15*time.Second)

	stranger := newRawPeer(t, "127.0.0.2:0", br.Bridge)
	stranger.invite(t, "1000", "stranger-1@127.0.0.2", `<script>alert(1)</script>`)
	stranger.options(t, "stranger-2@127.0.0.2")
	waitCount(t, &br.metrics.strangers, 2, "the stranger's requests refused")
	// The registrar's OPTIONS through kamailio is answered by us: had the
	// stranger's INVITE been answered, its answer would have been sent
	// before this one was.
	if code := probeUser(t, kam.Addr(), "1000"); code != 200 {
		t.Fatalf("OPTIONS through the registrar = %d, want 200", code)
	}
	if n := stranger.answers(); n != 0 {
		t.Errorf("the stranger got %d answers, want none", n)
	}
	if n := rang.Load(); n != 0 {
		t.Errorf("%d incoming calls handed on, want none", n)
	}
	br.sink.mu.Lock()
	calls := len(br.sink.calls)
	br.sink.mu.Unlock()
	if calls != 0 {
		t.Errorf("%d call changes published to the monitor, want none", calls)
	}

	// The same INVITE from the registrar's address rings.
	trusted := newRawPeer(t, "127.0.0.1:0", br.Bridge)
	trusted.invite(t, "1000", "trusted-1@127.0.0.1", "Anna")
	trusted.wait(t, 10*time.Second, "the registrar's INVITE answered", func(final map[string]int, ringing map[string]bool) bool {
		return ringing["trusted-1@127.0.0.1"] && final["trusted-1@127.0.0.1"] == 486
	})
	if n := rang.Load(); n != 1 {
		t.Errorf("%d incoming calls handed on, want 1", n)
	}
}

// TestRingingCap: 300 INVITEs at once from the registrar's address ring
// at most max_ringing_calls; every other one is answered 486 Busy Here at
// once, and none of those reaches the monitor.
func TestRingingCap(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio")
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{})
	const burst, limit = 300, 3
	acc := testAccount("office", "1000", "pw1000", kam.Addr(), 60)
	acc.MaxRingingCalls = limit
	var rang atomic.Int32
	br := startBridge(t, Config{Accounts: []AccountConfig{acc}}, func(c *Call) {
		rang.Add(1)
		// Left ringing: the bridge ends them when it stops.
		go func() {
			for range c.Events() {
			}
		}()
	})
	br.sink.waitStatus(t, "office", monitor.LinkRegistered, 15*time.Second)
	peer := newRawPeer(t, "127.0.0.1:0", br.Bridge)
	for i := range burst {
		peer.invite(t, "1000", fmt.Sprintf("burst-%d@127.0.0.1", i), "Flood")
	}
	// Some of a burst this size overflow the socket's buffer; like any UA
	// the peer sends again what got no answer (RFC 3261 section 17.1.1.2,
	// Timer A).
	resend := time.NewTicker(500 * time.Millisecond)
	defer resend.Stop()
	stop := make(chan struct{})
	resent := make(chan struct{})
	go func() {
		defer close(resent)
		for {
			select {
			case <-stop:
				return
			case <-resend.C:
			}
			for _, id := range peer.unanswered(burst, "burst-%d@127.0.0.1") {
				peer.resendInvite("1000", id)
			}
		}
	}()
	defer func() { close(stop); <-resent }()
	peer.wait(t, 30*time.Second, "every INVITE but the ringing ones refused", func(final map[string]int, ringing map[string]bool) bool {
		busy := 0
		for _, code := range final {
			if code == 486 {
				busy++
			}
		}
		return busy == burst-limit && len(ringing) == limit
	})
	if n := rang.Load(); n != limit {
		t.Errorf("%d incoming calls handed on, want %d", n, limit)
	}
	if n := br.metrics.overRinging.Load(); n != burst-limit {
		t.Errorf("ringing-cap refusals counted %d, want %d", n, burst-limit)
	}
	br.sink.mu.Lock()
	ids := map[string]bool{}
	for _, c := range br.sink.calls {
		ids[string(c.ID)] = true
	}
	br.sink.mu.Unlock()
	if len(ids) != limit {
		t.Errorf("%d calls published to the monitor, want %d", len(ids), limit)
	}
}

// waitCount waits until n reaches want, polling, for at most 10 s.
func waitCount(t *testing.T, n *atomic.Uint64, want uint64, what string) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for n.Load() < want {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: %d of %d", what, n.Load(), want)
		}
	}
}
