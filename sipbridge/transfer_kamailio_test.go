package sipbridge

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// Tones of the phones in the transfer tests: each party is known by
// what it sends.
const (
	tone1001 = 1000
	tone1002 = 600
	toneOurs = 440
	toneSipp = 700
)

// checkHeard waits for d of the phone's newest recording and checks its
// tone.
func checkHeard(t *testing.T, ctx context.Context, p *siptest.Baresip, hz float64) {
	t.Helper()
	if err := p.WaitRecorded(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if got, err := p.CheckHeard(hz); err != nil {
		t.Errorf("phone %s heard %.0f Hz, want %.0f: %v", p.User(), got, hz, err)
	}
}

// lastTransfer is the latest transfer the monitor recorded for call id.
func lastTransfer(t *testing.T, s *side, id monitor.CallID) monitor.Transfer {
	t.Helper()
	mc, ok := s.br.sink.lastCall(id)
	if !ok || len(mc.Transfers) == 0 {
		t.Fatalf("monitor call %s has no transfer: %+v", id, mc)
	}
	return mc.Transfers[len(mc.Transfers)-1]
}

// TestBlindTransfer hands phone 1001 on to phone 1002 with REFER: the
// progress arrives as Transfer events, our call ends, and 1001 then hears
// 1002's tone (and 1002 hears 1001's).
func TestBlindTransfer(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio", "baresip")
	bed := newCCBed(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p1 := bed.phone(t, "1001", tone1001)
	p2 := bed.phone(t, "1002", tone1002)
	c := bed.dial(t, "1001")
	tapLeg(t, c.Media())
	playTone(t, c.Media(), toneOurs)
	if _, err := p1.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	// A second of the first call, so that the transferred call's
	// recording has a later name.
	checkHeard(t, ctx, p1, toneOurs)

	start := time.Now()
	if err := c.Transfer(ctx, "1002"); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, c, "transfer accepted", 30*time.Second, transferStep(TransferAccepted))
	accepted := time.Since(start)
	if ev.Transfer.Status != 200 || ev.State != StateConnected || !strings.Contains(ev.Transfer.Message, "1002") {
		t.Errorf("accepted event %+v %+v", ev, ev.Transfer)
	}
	last := drain(t, c)
	if last.Reason != monitor.ReasonCompleted || last.Text != "Transferred to 1002" {
		t.Errorf("our call ended %s %q, want completed, Transferred to 1002", last.Reason, last.Text)
	}
	if _, err := p2.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	if err := p1.WaitRecorded(ctx, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	flowing := time.Since(start)
	t.Logf("REFER → NOTIFY 200: %v; REFER → 1001 hears 1002 (recording polled every 50 ms): %v", accepted.Round(time.Millisecond), flowing.Round(time.Millisecond))
	checkHeard(t, ctx, p1, tone1002)
	checkHeard(t, ctx, p2, tone1001)
	x := lastTransfer(t, bed.side, c.ID())
	if x.Kind != monitor.TransferBlind || x.Transferer.Number != "1000" || x.Transferred.Number != "1001" || len(x.Targets) != 1 || x.Targets[0].Number != "1002" || x.At.IsZero() {
		t.Errorf("monitor transfer %+v", x)
	}
}

// TestBlindTransferFails transfers to a phone that answers 486 and to a
// number nobody has: each failure is reported in plain words with its
// status, and the call goes on (audio both ways).
func TestBlindTransferFails(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio", "baresip", "sipp")
	bed := newCCBed(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p1 := bed.phone(t, "1001", tone1001)
	busy := siptest.StartSippUAS(ctx, t, siptest.SippUASOptions{Registrar: bed.kam.Addr(), User: "1004", Status: 486})
	c := bed.dial(t, "1001")
	tap := tapLeg(t, c.Media())
	playTone(t, c.Media(), toneOurs)
	tests := []struct {
		target string
		status int
		words  string
	}{
		{"1004", 486, "1004 is busy"},
		{"1003", 404, "1003 was not found"},
	}
	for _, tt := range tests {
		if err := c.Transfer(ctx, tt.target); err != nil {
			t.Fatal(err)
		}
		ev := waitEvent(t, c, "transfer failed", 30*time.Second, transferStep(TransferFailed))
		if ev.Transfer.Status != tt.status || !strings.Contains(ev.Transfer.Message, tt.words) || !strings.Contains(ev.Transfer.Message, "stays with you") {
			t.Errorf("transfer to %s: %+v, want %d %q", tt.target, ev.Transfer, tt.status, tt.words)
		}
		if c.State() != StateConnected {
			t.Fatalf("call %s after a failed transfer", c.State())
		}
	}
	if err := busy.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// The call is still there, both ways.
	if hz := tap.tone(t, 10*time.Second); !near(hz, tone1001) {
		t.Errorf("after the failed transfers we hear %.0f Hz, want %d", hz, tone1001)
	}
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if last := drain(t, c); last.Text != "Hung up" {
		t.Errorf("ended %q", last.Text)
	}
	checkHeard(t, ctx, p1, toneOurs)
	if mc, _ := bed.br.sink.lastCall(c.ID()); len(mc.Transfers) != 0 {
		t.Errorf("failed transfers recorded: %+v", mc.Transfers)
	}
}

// TestAttendedTransferPhones calls 1001, then 1002 (the consultation),
// and joins them with REFER and Replaces: both our calls end and the
// phones hear each other. baresip 1.0 does not act on Replaces (1001
// calls 1002's Contact without the header, 1002 answers it as a second
// call), so our side ends the consultation itself; TestAttendedTransfer
// runs the whole exchange with transferee and target that do.
func TestAttendedTransferPhones(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio", "baresip")
	bed := newCCBed(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p1 := bed.phone(t, "1001", tone1001)
	p2 := bed.phone(t, "1002", tone1002)
	a := bed.dial(t, "1001")
	tapLeg(t, a.Media())
	playTone(t, a.Media(), toneOurs)
	b := bed.dial(t, "1002")
	tapLeg(t, b.Media())
	playTone(t, b.Media(), toneOurs)
	checkHeard(t, ctx, p1, toneOurs)
	checkHeard(t, ctx, p2, toneOurs)

	start := time.Now()
	if err := a.TransferTo(ctx, b); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, "transfer accepted", 30*time.Second, transferStep(TransferAccepted))
	accepted := time.Since(start)
	if last := drain(t, a); last.Reason != monitor.ReasonCompleted || last.Text != "Transferred to 1002" {
		t.Errorf("first call ended %s %q", last.Reason, last.Text)
	}
	if last := drain(t, b); last.Reason != monitor.ReasonCompleted {
		t.Errorf("consultation ended %s %q", last.Reason, last.Text)
	}
	t.Logf("attended REFER → NOTIFY 200: %v", accepted.Round(time.Millisecond))
	if err := p1.WaitRecorded(ctx, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	checkHeard(t, ctx, p1, tone1002)
	checkHeard(t, ctx, p2, tone1001)
	x := lastTransfer(t, bed.side, a.ID())
	if x.Kind != monitor.TransferAttended || x.Transferred.Number != "1001" || len(x.Targets) != 1 || x.Targets[0].Number != "1002" {
		t.Errorf("monitor transfer %+v", x)
	}
}

// TestTransferredByFarEnd: phone 1001 transfers us to 1002 (its ctrl_tcp
// transfer command sends REFER). We place the call ourselves, the
// gateway is told through OnTransferred, 1002's tone arrives on the new
// leg and the old call ends.
func TestTransferredByFarEnd(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio", "baresip")
	bed := newCCBed(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p1 := bed.phone(t, "1001", tone1001)
	bed.phone(t, "1002", tone1002)
	c := bed.dial(t, "1001")
	tapLeg(t, c.Media())
	playTone(t, c.Media(), toneOurs)
	if _, err := p1.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := p1.Command(ctx, "transfer", "sip:1002@"+bed.kam.Addr()); err != nil {
		t.Fatal(err)
	}
	old, next := bed.waitTransferred(t, 15*time.Second)
	if old != c || next.TransferredFrom() != c.ID() || next.Direction() != monitor.Outbound || next.Remote().Number != "1002" {
		t.Fatalf("OnTransferred(%v, %v): from %q remote %+v", old.ID(), next.ID(), next.TransferredFrom(), next.Remote())
	}
	waitState(t, next, StateConnected, 15*time.Second)
	tap := tapLeg(t, next.Media())
	playTone(t, next.Media(), toneOurs)
	if hz := tap.tone(t, 10*time.Second); !near(hz, tone1002) {
		t.Errorf("the new call carries %.0f Hz, want 1002's %d", hz, tone1002)
	}
	t.Logf("transfer command → REFER → first RTP from 1002 on the new leg: %v", tap.firstAudio().Sub(start).Round(time.Millisecond))
	if last := drain(t, c); last.Reason != monitor.ReasonCompleted || last.Text != "Transferred to 1002" {
		t.Errorf("old call ended %s %q", last.Reason, last.Text)
	}
	// baresip closes the transferred call itself once our NOTIFY carries
	// the target's 200 ("Call transferred").
	ev, err := p1.WaitEvent(ctx, "CALL_CLOSED")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(ev.Param), "transfer") {
		t.Errorf("1001 closed the call with %q, want its transfer-done reason", ev.Param)
	}
	x := lastTransfer(t, bed.side, next.ID())
	if x.Kind != monitor.TransferBlind || x.Transferer.Number != "1001" || x.Transferred.Number != "1000" || x.Targets[0].Number != "1002" {
		t.Errorf("monitor transfer %+v", x)
	}
	if err := next.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	drain(t, next)
}

// TestReferRefused: a far end's REFER to a number the account may not
// call gets 603, one without Refer-To or with two 400, one to an http:
// URI 403 (the sipp scenario checks each answer); no call is placed.
func TestReferRefused(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio", "sipp")
	bed := newCCBed(t, func(a *AccountConfig) { a.ReferAllowed = []string{"10??", "2*"} })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	far := siptest.StartSipp(t, "uac-refer-refused.xml", bed.sipAddr(), "-s", "1000", "-key", "forbidden", "0900123")
	c := bed.answerNext(t, ctx)
	if last := drain(t, c); last.Reason != monitor.ReasonCompleted {
		t.Errorf("call ended %s", last.Reason)
	}
	if err := far.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-bed.transferred:
		t.Fatalf("a refused REFER placed %s", p[1].ID())
	default:
	}
}

// TestReplacesUnknownDialog: an INVITE with Replaces that names no call
// of ours gets 481 and rings nobody.
func TestReplacesUnknownDialog(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio", "sipp")
	bed := newCCBed(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := siptest.StartSipp(t, "uac-replaces-unknown.xml", bed.sipAddr(), "-s", "1000").Wait(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-bed.incoming:
		t.Fatalf("the INVITE rang as %s", c.ID())
	default:
	}
}

// writeMuLawTone writes seconds of a tone as raw µ-law at 8 kHz, what
// sipp's rtp_stream plays as PCMU.
func writeMuLawTone(t *testing.T, path string, hz float64, seconds int) {
	t.Helper()
	pcm := make([]int16, 8000*seconds)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*hz*float64(i)/8000))
	}
	if err := os.WriteFile(path, siptest.MuLawEncode(nil, pcm), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReplacesTakesOver: while we talk to 1001, a sipp far end sends an
// INVITE with Replaces naming that dialog. It is answered at once (the
// scenario fails on a 180), the old call ends with BYE, OnTransferred
// hands over the new call, whose leg carries sipp's tone.
func TestReplacesTakesOver(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio", "baresip", "sipp")
	bed := newCCBed(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p1 := bed.phone(t, "1001", tone1001)
	c := bed.dial(t, "1001")
	tapLeg(t, c.Media())
	id, err := c.identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeMuLawTone(t, filepath.Join(dir, "tone.ulaw"), toneSipp, 20)
	far := siptest.StartSippIn(t, dir, "uac-replaces.xml", bed.sipAddr(), "-s", "1000",
		"-key", "callid", c.key, "-key", "totag", id.localTag, "-key", "fromtag", id.remoteTag)
	old, next := bed.waitTransferred(t, 15*time.Second)
	if old != c || next.TransferredFrom() != c.ID() || next.Direction() != monitor.Inbound || next.Remote().Name != "Desk 2000" {
		t.Fatalf("OnTransferred(%v, %v): from %q remote %+v", old.ID(), next.ID(), next.TransferredFrom(), next.Remote())
	}
	if ev := <-next.Events(); ev.State != StateConnected || ev.Codec == nil || ev.Codec.Name != "PCMU" {
		t.Fatalf("first event of the replacing call %+v, want connected with PCMU (no ringing)", ev)
	}
	if last := drain(t, c); last.Text != "Replaced by a call from Desk 2000" {
		t.Errorf("old call ended %q", last.Text)
	}
	if _, err := p1.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}
	tap := tapLeg(t, next.Media())
	if hz := tap.tone(t, 10*time.Second); !near(hz, toneSipp) {
		t.Errorf("the replacing call carries %.0f Hz, want %d", hz, toneSipp)
	}
	x := lastTransfer(t, bed.side, next.ID())
	if x.Kind != monitor.TransferAttended || x.Transferer.Number != "1001" || x.Transferred.Number != "2000" {
		t.Errorf("monitor transfer %+v", x)
	}
	if err := next.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	drain(t, next)
	if err := far.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAttendedTransfer runs an attended transfer between three bridges
// on one registrar, so that every role honours Replaces: office (1000)
// calls 1003 and then 1005 (the consultation) and completes with REFER.
// 1003 (the transferee) calls 1005's Contact with the Replaces header;
// 1005 (the target) takes the consultation over without ringing; both
// calls of office end, and 1003 and 1005 hear each other.
func TestAttendedTransfer(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio")
	bed := newCCBed(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	transferee := startSide(t, bed.kam, "desk3", "1003", nil)
	target := startSide(t, bed.kam, "desk5", "1005", nil)

	call := func(to string, far *side) (*Call, *Call) {
		t.Helper()
		c, err := bed.br.Dial(ctx, "office", to, []Codec{CodecPCMU})
		if err != nil {
			t.Fatal(err)
		}
		answered := far.answerNext(t, ctx)
		waitState(t, c, StateConnected, 10*time.Second)
		return c, answered
	}
	a, aFar := call("1003", transferee)
	b, bFar := call("1005", target)
	for _, c := range []*Call{a, b, aFar, bFar} {
		tapLeg(t, c.Media())
	}

	start := time.Now()
	if err := a.TransferTo(ctx, b); err != nil {
		t.Fatal(err)
	}
	old, next := transferee.waitTransferred(t, 15*time.Second)
	if old != aFar || next.TransferredFrom() != aFar.ID() {
		t.Fatalf("transferee: OnTransferred(%s, %s) from %q", old.ID(), next.ID(), next.TransferredFrom())
	}
	replaced, taken := target.waitTransferred(t, 15*time.Second)
	if replaced != bFar || taken.TransferredFrom() != bFar.ID() || taken.Remote().Number != "1003" {
		t.Fatalf("target: OnTransferred(%s, %s) from %q remote %+v", replaced.ID(), taken.ID(), taken.TransferredFrom(), taken.Remote())
	}
	waitEvent(t, a, "transfer accepted", 30*time.Second, transferStep(TransferAccepted))
	t.Logf("attended REFER → NOTIFY 200 (transferee called the target with Replaces): %v", time.Since(start).Round(time.Millisecond))
	waitState(t, next, StateConnected, 10*time.Second)
	if ev := <-taken.Events(); ev.State != StateConnected {
		t.Fatalf("the target's new call began with %+v, want connected (no ringing)", ev)
	}
	for _, c := range []*Call{a, b, aFar, bFar} {
		if last := drain(t, c); last.Reason != monitor.ReasonCompleted {
			t.Errorf("%s ended %s %q", c.ID(), last.Reason, last.Text)
		}
	}
	nextTap, takenTap := tapLeg(t, next.Media()), tapLeg(t, taken.Media())
	playTone(t, next.Media(), tone1001)
	playTone(t, taken.Media(), tone1002)
	if hz := nextTap.tone(t, 10*time.Second); !near(hz, tone1002) {
		t.Errorf("the transferee hears %.0f Hz, want the target's %d", hz, tone1002)
	}
	if hz := takenTap.tone(t, 10*time.Second); !near(hz, tone1001) {
		t.Errorf("the target hears %.0f Hz, want the transferee's %d", hz, tone1001)
	}
	if x := lastTransfer(t, bed.side, a.ID()); x.Kind != monitor.TransferAttended || x.Transferred.Number != "1003" || x.Targets[0].Number != "1005" {
		t.Errorf("transferor's monitor transfer %+v", x)
	}
	if x := lastTransfer(t, transferee, next.ID()); x.Kind != monitor.TransferAttended || x.Transferer.Number != "1000" {
		t.Errorf("transferee's monitor transfer %+v", x)
	}
	if x := lastTransfer(t, target, taken.ID()); x.Kind != monitor.TransferAttended || x.Transferred.Number != "1003" {
		t.Errorf("target's monitor transfer %+v", x)
	}
	if err := next.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	drain(t, next)
	drain(t, taken)
}

// TestBlindTransferUnanswered: a phone that refuses the REFER (603) makes
// Transfer fail at once; one that accepts it (202) but never sends the
// final NOTIFY makes it fail after transfer_timeout. The call stays both
// times.
func TestBlindTransferUnanswered(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio", "sipp")
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{})
	bed := &ccBed{kam: kam, side: startSide(t, kam, "office", "1000", nil)}
	bed.br.cfg.TransferTimeout = 300 * time.Millisecond
	tests := []struct {
		name, user, scenario string
		refused              bool
		want                 int
		words                string
	}{
		{"refused", "1004", "uas-refer-decline.xml", true, 603, "refused by the other side"},
		{"no final notify", "1005", "uas-refer-silent.xml", false, 408, "no word from the other side within 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			uas := siptest.StartSippUAS(ctx, t, siptest.SippUASOptions{Registrar: kam.Addr(), User: tt.user, Scenario: tt.scenario})
			c := bed.dial(t, tt.user)
			err := c.Transfer(ctx, "1002")
			if refused := errors.Is(err, ErrRefused); refused != tt.refused || (!tt.refused && err != nil) {
				t.Fatalf("Transfer = %v, refused want %v", err, tt.refused)
			}
			ev := waitEvent(t, c, "transfer failed", 10*time.Second, transferStep(TransferFailed))
			if ev.Transfer.Status != tt.want || !strings.Contains(ev.Transfer.Message, tt.words) {
				t.Errorf("failed event %+v, want %d %q", ev.Transfer, tt.want, tt.words)
			}
			if c.State() != StateConnected {
				t.Fatalf("call %s after the failed transfer", c.State())
			}
			if err := c.Hangup(ctx); err != nil {
				t.Fatal(err)
			}
			drain(t, c)
			if err := uas.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
