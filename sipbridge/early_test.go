package sipbridge

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/switchboard/switchboard/monitor"
)

// fakePhone is an in-process registrar and phone in one: it accepts any
// REGISTER and answers an INVITE with 183 + SDP (early media), then 200
// when told, then hangs up when told. kamailio + baresip cannot be made
// to send early media on cue.
type fakePhone struct {
	addr   string
	rtp    *net.UDPConn
	answer chan struct{}
	hold   chan struct{}
	held   chan *sip.Response
	bye    chan struct{}
	ended  chan error
}

func startFakePhone(t *testing.T) *fakePhone {
	t.Helper()
	log := testLogger(t)
	ua, err := sipgo.NewUA(sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := sipgo.NewClient(ua, sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePhone{addr: conn.LocalAddr().String(), rtp: newPeer(t), answer: make(chan struct{}), hold: make(chan struct{}), held: make(chan *sip.Response, 1), bye: make(chan struct{}), ended: make(chan error, 1)}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "phone", Host: "127.0.0.1", Port: conn.LocalAddr().(*net.UDPAddr).Port}}
	dua := &sipgo.DialogUA{Client: cl, ContactHDR: contact}
	rtpAddr := addrOf(p.rtp)
	sdp := []byte(fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n", rtpAddr.Port()))
	var dss atomic.Pointer[sipgo.DialogServerSession]
	srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		res.AppendHeader(sip.NewHeader("Expires", "60"))
		_ = tx.Respond(res)
	})
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		d, err := dua.ReadInvite(req, tx)
		if err != nil {
			p.ended <- err
			return
		}
		dss.Store(d)
		if err := d.Respond(183, "Session Progress", sdp, sip.NewHeader("Content-Type", "application/sdp")); err != nil {
			p.ended <- err
			return
		}
		select {
		case <-p.answer:
		case <-d.Context().Done():
			p.ended <- fmt.Errorf("cancelled before answer")
			return
		}
		if err := d.RespondSDP(sdp); err != nil {
			p.ended <- err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		<-p.hold
		// Hold: a re-INVITE with sendonly (RFC 3264 section 8.4).
		re := sip.NewRequest(sip.INVITE, d.InviteRequest.Contact().Address)
		re.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		re.SetBody([]byte(strings.Replace(string(sdp), "a=sendrecv", "a=sendonly", 1)))
		res, err := d.Do(ctx, re)
		if err != nil {
			p.ended <- err
			return
		}
		p.held <- res
		<-p.bye
		p.ended <- d.Bye(ctx)
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		if d := dss.Load(); d != nil {
			_ = d.ReadAck(req, tx)
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeUDP(conn)
	}()
	t.Cleanup(func() {
		srv.Close()
		ua.Close()
		conn.Close()
		<-done
	})
	return p
}

func TestOutgoingCallEarlyMediaAndRemoteBye(t *testing.T) {
	phone := startFakePhone(t)
	r := startBridge(t, Config{Accounts: []AccountConfig{{Name: "a", Registrar: phone.addr, Username: "u", Password: "x", Domain: "127.0.0.1"}}}, nil)
	r.sink.waitStatus(t, "a", monitor.LinkRegistered, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := r.Dial(ctx, "a", "sip:phone@"+phone.addr, []Codec{CodecPCMU, CodecPCMA})
	if err != nil {
		t.Fatal(err)
	}
	ev := waitState(t, c, StateEarly, 10*time.Second)
	if ev.Status != 183 || ev.Codec == nil || ev.Codec.Name != "PCMA" || ev.Codec.PayloadType != 8 {
		t.Fatalf("early event %+v codec %v", ev, ev.Codec)
	}
	leg := c.Media()
	if leg == nil {
		t.Fatal("no media on early")
	}
	// Early media (a ring-back tone, an announcement) flows before the
	// answer.
	if _, err := phone.rtp.WriteToUDPAddrPort(rtpPacket(8, 7), leg.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	if n, err := leg.ReadRTP(buf); err != nil || n != 172 || buf[1] != 8 {
		t.Fatalf("early media read %d %v", n, err)
	}
	close(phone.answer)
	ev = waitState(t, c, StateConnected, 10*time.Second)
	if ev.Codec == nil || ev.Codec.Name != "PCMA" {
		t.Fatalf("answered %+v", ev)
	}
	if c.Media() != leg {
		t.Fatal("answer replaced the early media leg")
	}
	close(phone.hold)
	res := <-phone.held
	held, err := ParseSDP(res.Body())
	if res.StatusCode != 200 || err != nil || held.Direction != RecvOnly || held.RTPAddr().Port() != leg.LocalAddr().Port() {
		t.Fatalf("re-INVITE answered %d %v: %s", res.StatusCode, err, res.Body())
	}
	close(phone.bye)
	last := drain(t, c)
	if last.Reason != monitor.ReasonCompleted || last.Text != "The other side hung up" {
		t.Fatalf("ended %+v", last)
	}
	if err := <-phone.ended; err != nil {
		t.Fatalf("phone: %v", err)
	}
}
