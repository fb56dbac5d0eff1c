package gateway

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
	"github.com/switchboard/switchboard/sipbridge/siptest"
	"github.com/switchboard/switchboard/web/browsertest"
)

// PageServer serves the softphone page of package web for g, with users
// (name → accounts) signing in with password, and returns its base URL.
// It is set by page_server_test.go (package gateway_test); see there why.
var PageServer func(t *testing.T, g *Gateway, users map[string][]string, password string) string

// TestPageCallControl has headless Chromium (fake microphone at 440 Hz)
// work the real softphone page against a scripted SIP side: an outgoing
// call, call waiting answered with the A key, swap, hold with H, DTMF both
// ways, the far end holding, a failed blind transfer, an attended
// transfer, being transferred, lost audio, hang-up with E and a declined
// incoming call. Each far end sends its own tone, and the page must hear
// the right one. SWITCHBOARD_PHONE_SHOTS=DIR keeps screenshots of every
// state at phone and desk size.
func TestPageCallControl(t *testing.T) {
	browsertest.Require(t)

	sip := newFakeSIP(t, "1001")
	var logs lockedBuffer
	g, err := New(testConfig(), sip, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	url := PageServer(t, g, map[string][]string{"paula": {"1001"}}, "pw-paula")

	dir := t.TempDir()
	wav := filepath.Join(dir, "mic-440.wav")
	if err := siptest.WriteToneWAV(wav, 440, 48000, 1, 120); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	// The script waits for a line after each step: the far ends have
	// done their part.
	s := browsertest.Start(ctx, t, browsertest.Options{Env: []string{"FAKE_AUDIO_WAV=" + wav}, Ack: true,
		Report: func() string { return "gateway:\n" + logs.String() }},
		"phone_control.js", url, "paula", "pw-paula", os.Getenv("SWITCHBOARD_PHONE_SHOTS"))

	var (
		first, second, consult, fifth, next *fakeCall
		farFirst, farSecond                 *farEnd
		incoming                            *fakeCall
	)
	control := func(c *fakeCall, want string) {
		t.Helper()
		if got := c.nextControl(t); got != want {
			t.Errorf("far end %s got %q, want %q", c.remote.Number, got, want)
		}
	}
	steps := "registered,dialled,ringing-out,connected,waiting,answered-waiting,swapped,held,resumed,dtmf-sent,dtmf-shown,remote-hold,remote-resumed," +
		"second-hangup,blind-sent,transfer-trying,transfer-failed,consult-dialled,consulting,complete-sent,transferred,dialled-5,connected-5," +
		"transferred-in,media-error,hung-up,incoming,declined"
	for _, name := range strings.Split(steps, ",") {
		var v struct {
			Hz   int    `json:"hz"`
			Text string `json:"text"`
		}
		s.NextInto(ctx, t, name, &v)
		hz := func(want int) {
			t.Helper()
			if v.Hz < want-50 || v.Hz > want+50 {
				t.Errorf("%s: the page heard %d Hz, want %d", name, v.Hz, want)
			}
		}
		switch name {
		case "dialled":
			first = <-sip.dialed
			first.progress(sipbridge.StateRinging, nil)
		case "ringing-out":
			first.connect(sipPCMU)
			farFirst = startFarEnd(t, first, 1000, 0)
		case "connected":
			hz(1000)
			heardBy(t, farFirst, "the first far end")
			second = sip.ring("in-2", "1001", sipPCMU)
			second.configure(func(c *fakeCall) { c.reportsMedia = true })
			farSecond = startFarEnd(t, second, 1600, 0)
		case "answered-waiting":
			hz(1600)
			control(first, "hold")
			heardBy(t, farSecond, "the waiting caller")
		case "swapped":
			hz(1000)
			control(second, "hold")
			control(first, "resume")
		case "held":
			control(first, "hold")
		case "resumed":
			control(first, "resume")
		case "dtmf-sent":
			for _, d := range []string{"1", "2", "#"} {
				control(first, "dtmf "+d)
			}
			first.sendDigits("5")
		case "dtmf-shown":
			if !strings.Contains(v.Text, "12#") {
				t.Errorf("digits shown %q, want the ones sent too", v.Text)
			}
			first.farHold(true)
		case "remote-hold":
			first.farHold(false)
		case "second-hangup":
			<-second.hungUp
		case "blind-sent":
			control(first, "hold")
			control(first, "transfer 1003")
			first.transferStep(sipbridge.TransferTrying, 202, "Calling 1003…")
		case "transfer-trying":
			first.transferStep(sipbridge.TransferFailed, 486, "The transfer failed: 1003 is busy")
		case "transfer-failed":
			control(first, "resume")
		case "consult-dialled":
			control(first, "hold")
			consult = <-sip.dialed
			consult.connect(sipPCMU)
			startFarEnd(t, consult, 1200, 0)
		case "consulting":
			hz(1200)
		case "complete-sent":
			control(first, "transfer-to "+string(consult.id))
			first.transferStep(sipbridge.TransferAccepted, 200, "")
			first.end(monitor.ReasonCompleted, 0)
			consult.end(monitor.ReasonCompleted, 0)
		case "dialled-5":
			fifth = <-sip.dialed
			fifth.connect(sipPCMU)
			startFarEnd(t, fifth, 1000, 0)
		case "connected-5":
			next = sip.newCall("referred", "1001", monitor.Outbound, "1006")
			startFarEnd(t, next, 1400, 0)
			sip.transfer(fifth, next)
			next.progress(sipbridge.StateRinging, nil)
			next.connect(sipPCMU)
			fifth.end(monitor.ReasonCompleted, 0)
		case "transferred-in":
			hz(1400)
			next.setMedia(sipbridge.MediaError, "No audio from the other side for 15 seconds")
		case "media-error":
			if !strings.Contains(v.Text, "No audio") {
				t.Errorf("lost audio shown as %q", v.Text)
			}
		case "hung-up":
			<-next.hungUp
			incoming = sip.ring("in-9", "1001", sipPCMU)
		case "declined":
			if code := <-incoming.rejected; code != 603 {
				t.Errorf("declined with %d, want 603", code)
			}
		}
		s.Ack(t)
	}
	s.Finish(t)
}

// lockedBuffer collects the gateway's log lines for a failure report.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
