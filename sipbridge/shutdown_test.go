package sipbridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// sendInvite sends a new INVITE for user straight to the bridge over UDP
// and returns the final status code it gets.
func sendInvite(t *testing.T, b *Bridge, user string) int {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	to := b.sip.udpC.LocalAddr().String()
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	id := time.Now().UnixNano()
	msg := fmt.Sprintf("INVITE sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-inv%d;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:caller@127.0.0.1>;tag=c%d\r\nTo: <sip:%s@127.0.0.1>\r\nCall-ID: inv-%d@127.0.0.1\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:caller@%s>\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		user, to, conn.LocalAddr(), id, id, user, id, conn.LocalAddr(), len(sdp), sdp)
	raddr, err := net.ResolveUDPAddr("udp4", to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.WriteTo([]byte(msg), raddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no final answer to the INVITE: %v", err)
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		var code int
		if _, err := fmt.Sscanf(line, "SIP/2.0 %d", &code); err == nil && code >= 200 {
			return code
		}
	}
}

// TestShutdownInOrder: after StopAccepting a new INVITE gets 503 and Dial
// fails while the live call goes on; Shutdown then cancels the ringing
// call, un-REGISTERs and makes Run return.
func TestShutdownInOrder(t *testing.T) {
	reg := startFakeRegistrar(t, 1, 60)
	r := startBridge(t, Config{RingTimeout: time.Minute, Accounts: []AccountConfig{{Name: "a", Registrar: reg.addr, Username: "u", Password: "x", Domain: "127.0.0.1"}}},
		func(c *Call) {})
	r.sink.waitStatus(t, "a", monitor.LinkRegistered, 10*time.Second)
	c, err := r.Dial(context.Background(), "a", "sip:ringer@127.0.0.1:9", []Codec{CodecPCMU})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, c, StateRinging, 10*time.Second)

	r.StopAccepting()
	if code := sendInvite(t, r.Bridge, "u"); code != 503 {
		t.Errorf("INVITE after StopAccepting got %d, want 503", code)
	}
	if _, err := r.Dial(context.Background(), "a", "sip:other@127.0.0.1:9", []Codec{CodecPCMU}); !errors.Is(err, ErrNotReady) {
		t.Errorf("Dial after StopAccepting: %v, want ErrNotReady", err)
	}
	select {
	case <-c.Done():
		t.Fatal("StopAccepting ended the live call")
	default:
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case <-r.stopped:
	default:
		t.Fatal("Run still running after Shutdown returned")
	}
	if last := drain(t, c); last.Reason != monitor.ReasonCancelled {
		t.Errorf("call ended %+v, want cancelled by the shutdown", last)
	}
	got := reg.expires("u")
	if len(got) == 0 || got[len(got)-1] != 0 {
		t.Errorf("REGISTERs asked %v, want an un-REGISTER (expires 0) last", got)
	}
	if st := r.Statuses()[0]; st.State != monitor.LinkStopped {
		t.Errorf("status after shutdown %s, want stopped", st.State)
	}
	// Shutdown is idempotent.
	if err := r.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

// TestShutdownForced: a registrar that never answers the un-REGISTER
// would hold the stop for seconds; a Shutdown whose ctx ends gives up on
// it and Run returns.
func TestShutdownForced(t *testing.T) {
	reg := startFakeRegistrar(t, 1, 60)
	r := startBridge(t, Config{RegisterTimeout: time.Minute, Accounts: []AccountConfig{{Name: "a", Registrar: reg.addr, Username: "deaf", Password: "x", Domain: "127.0.0.1"}}}, nil)
	r.sink.waitStatus(t, "a", monitor.LinkRegistered, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Shutdown(ctx) }()
	// The un-REGISTER is on its way and will not be answered.
	reg.waitRegisters(t, "deaf", 2, 10*time.Second)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("forced Shutdown: %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("forced Shutdown still waits for the un-REGISTER")
	}
	<-r.stopped
}

// TestShutdownBeforeRun makes Run return at once.
func TestShutdownBeforeRun(t *testing.T) {
	b, err := New(Config{Listen: "127.0.0.1:0", RTPPortMin: 31000, RTPPortMax: 31099}, nil, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}
