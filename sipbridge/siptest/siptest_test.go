package siptest

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestPhonesCallThroughKamailio proves the harness end to end: kamailio
// starts, two phones register with digest auth, one calls the other
// through the proxy, and each recording carries the other phone's tone.
// Then kamailio restarts on the same port and the phones register and
// call again.
func TestPhonesCallThroughKamailio(t *testing.T) {
	k := StartKamailio(t, KamailioOptions{})
	caller := StartBaresip(t, BaresipOptions{User: "1001", Registrar: k.Addr(), ToneHz: 1000})
	callee := StartBaresip(t, BaresipOptions{User: "1002", Registrar: k.Addr(), ToneHz: 440, AutoAnswer: true})

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for _, p := range []*Baresip{caller, callee} {
		if err := p.WaitRegistered(ctx); err != nil {
			t.Fatal(err)
		}
	}
	call(ctx, t, caller, callee, 1000, 440)

	k.Restart()
	for _, p := range []*Baresip{caller, callee} {
		if err := p.Reregister(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitRegistered(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The other direction this time, after the registrar lost everything.
	call(ctx, t, callee, caller, 440, 1000)
}

// call makes from dial to, checks that both are connected and that each
// heard the other's tone, and hangs up from the caller's side.
func call(ctx context.Context, t *testing.T, from, to *Baresip, fromHz, toHz float64) {
	t.Helper()
	if !to.opts.AutoAnswer {
		go func() {
			// Answer as soon as it rings; errors show up as a call that
			// never gets established below.
			if _, err := to.WaitEvent(ctx, "CALL_INCOMING"); err == nil {
				_ = to.Answer(ctx)
			}
		}()
	}
	if err := from.Dial(ctx, to.URI()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Baresip{from, to} {
		if _, err := p.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*Baresip{from, to} {
		if err := p.WaitRecorded(ctx, 500*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := from.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Baresip{from, to} {
		if _, err := p.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
			t.Fatal(err)
		}
	}
	checks := []struct {
		p    *Baresip
		want float64
	}{{from, toHz}, {to, fromHz}}
	for _, c := range checks {
		got, err := c.p.CheckHeard(c.want)
		if err != nil {
			t.Errorf("%s heard: %v", c.p.User(), err)
			continue
		}
		t.Logf("%s heard %.1f Hz (want %.0f)", c.p.User(), got, c.want)
	}
}

// TestCodecs has phones call each other with each codec the gateway
// passes through, in parallel (proving that phones and registrars of
// concurrent tests do not collide), and checks the tones; the recordings
// run at the codec's rate (16 kHz for G.722, 48 kHz stereo for Opus).
func TestCodecs(t *testing.T) {
	codecs := []struct {
		codec string
		rate  int  // of the recordings
		wav   bool // the caller plays its tone from a WAV file
	}{
		{"PCMU", 8000, true},
		{"PCMA", 8000, false},
		{"G722/16000/1", 16000, false},
		{"opus/48000/2", 48000, false},
	}
	for _, tt := range codecs {
		codec := tt.codec
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			k := StartKamailio(t, KamailioOptions{})
			ao := BaresipOptions{User: "1003", Registrar: k.Addr(), ToneHz: 700, Codecs: []string{codec}}
			if tt.wav {
				ao.ToneHz = 0 // must come from the file
				ao.ToneWAV = filepath.Join(t.TempDir(), "tone700.wav")
				if err := WriteToneWAV(ao.ToneWAV, 700, 48000, 2, 20); err != nil {
					t.Fatal(err)
				}
			}
			a := StartBaresip(t, ao)
			b := StartBaresip(t, BaresipOptions{User: "1004", Registrar: k.Addr(), ToneHz: 1300, Codecs: []string{codec}, AutoAnswer: true})
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			for _, p := range []*Baresip{a, b} {
				if err := p.WaitRegistered(ctx); err != nil {
					t.Fatal(err)
				}
			}
			call(ctx, t, a, b, 700, 1300)
			dec, _ := a.Recordings()
			if _, rate, _, err := ReadWAV(dec); err != nil || rate != tt.rate {
				t.Errorf("recording %s: rate %d, %v; want %d Hz", dec, rate, err, tt.rate)
			}
		})
	}
}
