package sipbridge

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// TestDTMFTelephoneEvents sends keys to a baresip phone as RFC 4733
// events (the phone reports each one it decodes) and reads the keys the
// phone sends, for a G.711 and an Opus call.
func TestDTMFTelephoneEvents(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio", "baresip")
	bed := newCCBed(t, nil)
	tests := []struct {
		name   string
		user   string
		phone  string
		codecs []Codec
	}{
		{"PCMU", "1001", "PCMU", []Codec{CodecPCMU}},
		{"opus", "1002", "opus/48000/2", []Codec{CodecOpus, CodecPCMU}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			phone := bed.phone(t, tt.user, 1000, tt.phone)
			c := bed.dial(t, tt.user, tt.codecs...)
			if _, ok := c.DTMFPayloadType(); !ok {
				t.Fatal("no telephone-event negotiated")
			}
			tapLeg(t, c.Media())
			if _, err := phone.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
				t.Fatal(err)
			}
			if err := c.SendDTMF(ctx, "12#9"); err != nil {
				t.Fatal(err)
			}
			got := ""
			for len(got) < 4 {
				ev, err := phone.WaitEvent(ctx, "CALL_DTMF_START")
				if err != nil {
					t.Fatalf("phone got %q so far: %v", got, err)
				}
				got += ev.Param
			}
			if got != "12#9" {
				t.Fatalf("phone decoded %q, want 12#9", got)
			}

			if _, err := phone.Command(ctx, "sndcode", "5*"); err != nil {
				t.Fatal(err)
			}
			heard := ""
			for len(heard) < 2 {
				ev := waitEvent(t, c, "a key from the phone", 10*time.Second, func(ev CallEvent) bool { return ev.DTMF != "" })
				if ev.State != StateConnected {
					t.Errorf("DTMF event with state %s, want connected", ev.State)
				}
				heard += ev.DTMF
			}
			if heard != "5*" {
				t.Fatalf("keys from the phone %q, want 5*", heard)
			}
			if err := c.Hangup(ctx); err != nil {
				t.Fatal(err)
			}
			drain(t, c)
			if _, err := phone.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDTMFInfo sends keys to a phone that negotiated no telephone-event:
// they go as SIP INFO application/dtmf-relay, and the sipp phone checks
// each body in order.
func TestDTMFInfo(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio", "sipp")
	bed := newCCBed(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	uas := siptest.StartSippUAS(ctx, t, siptest.SippUASOptions{Registrar: bed.kam.Addr(), User: "1004", Scenario: "uas-info.xml"})
	c := bed.dial(t, "1004")
	if _, ok := c.DTMFPayloadType(); ok {
		t.Fatal("telephone-event negotiated with a phone that has none")
	}
	if err := c.SendDTMF(ctx, "12#"); err != nil {
		t.Fatal(err)
	}
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	drain(t, c)
	if err := uas.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestDTMFInfoReceived takes keys a far end sends as SIP INFO, in both
// body forms, and the answers to bodies that are not DTMF.
func TestDTMFInfoReceived(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio", "sipp")
	bed := newCCBed(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	far := siptest.StartSipp(t, "uac-info-dtmf.xml", bed.sipAddr(), "-s", "1000")
	c := bed.answerNext(t, ctx)
	keys := ""
	timer := time.NewTimer(15 * time.Second)
	defer timer.Stop()
	for ended := false; !ended; {
		select {
		case ev, ok := <-c.Events():
			keys += ev.DTMF
			ended = !ok
		case <-timer.C:
			t.Fatalf("the caller did not hang up; keys so far %q", keys)
		}
	}
	if keys != "78" {
		t.Fatalf("keys %q, want 78", keys)
	}
	if err := far.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSendDTMFRefusesBadKeys(t *testing.T) {
	c := &Call{state: StateConnected, done: make(chan struct{})}
	if err := c.SendDTMF(context.Background(), "12x"); !errors.Is(err, ErrBadDigit) {
		t.Fatalf("err = %v, want ErrBadDigit", err)
	}
	if err := c.SendDTMF(context.Background(), "12"); !errors.Is(err, ErrCallState) {
		t.Fatalf("a call without media: err = %v, want ErrCallState", err)
	}
	c.ended = true
	if err := c.SendDTMF(context.Background(), "1"); !errors.Is(err, ErrCallEnded) {
		t.Fatalf("an ended call: err = %v, want ErrCallEnded", err)
	}
}
