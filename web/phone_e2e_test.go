package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/gateway"
	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
	"github.com/switchboard/switchboard/sipbridge/siptest"
	"github.com/switchboard/switchboard/web/browsertest"
)

// startSoftphone runs the SIP bridge with accounts, the gateway and the web
// server, with users (name → accounts; password testPassword), until the
// test ends; it returns the web server.
func startSoftphone(t *testing.T, accounts []sipbridge.AccountConfig, users map[string][]string) *httptest.Server {
	t.Helper()
	hub := monitor.NewHub(monitor.HubConfig{})
	t.Cleanup(hub.Close)
	rtp := siptest.FreePorts(t, 20)
	bridge, err := sipbridge.New(sipbridge.Config{Listen: "127.0.0.1:0", RTPPortMin: rtp, RTPPortMax: rtp + 19, Accounts: accounts}, hub, sipbridge.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{IncludeLoopback: true}, gateway.FromBridge(bridge))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	bridgeDone := make(chan error, 1)
	go func() { bridgeDone <- bridge.Run(runCtx) }()
	select {
	case <-bridge.Ready():
	case err := <-bridgeDone:
		stop()
		t.Fatalf("sip bridge: %v", err)
	}
	cfg := testConfig(t)
	for name, acc := range users {
		cfg.Users = append(cfg.Users, User{Name: name, PasswordHash: cfg.Users[0].PasswordHash, Role: RoleUser, Accounts: acc})
	}
	srv, err := New(cfg, Deps{Hub: hub, Phone: gw}, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		_ = gw.Close()
		stop()
		if err := <-bridgeDone; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("bridge: %v", err)
		}
	})
	return ts
}

// TestBrowserSoftphone: headless Chromium (fake microphone at 440 Hz) signs
// in, registers through kamailio, calls a baresip phone (1000 Hz) and both
// hear each other; the phone calls back, the page rings, answers, both hear
// each other, the phone hangs up and the page shows it; a user whose
// account has a wrong password, and one whose registrar never answers,
// see why in plain words, with dialling off; a call to a number nobody
// has is listed as failed, and why.
func TestBrowserSoftphone(t *testing.T) {
	browsertest.Require(t)

	k := siptest.StartKamailio(t, siptest.KamailioOptions{})
	far := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1002", Registrar: k.Addr(), ToneHz: 1000, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := far.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	ts := startSoftphone(t, []sipbridge.AccountConfig{
		{Name: "office", Registrar: k.Addr(), Username: "1001", Password: siptest.Password("1001"), Expires: 60},
		{Name: "wrong", Registrar: k.Addr(), Username: "1003", Password: "not-the-password", Expires: 60},
		{Name: "gone", Registrar: silentRegistrar(t), Username: "1004", Password: siptest.Password("1004"), Expires: 60},
	}, map[string][]string{"paula": {"office"}, "walter": {"wrong"}, "gustav": {"gone"}})

	dir := t.TempDir()
	wav := filepath.Join(dir, "mic-440.wav")
	if err := siptest.WriteToneWAV(wav, 440, 48000, 1, 30); err != nil {
		t.Fatal(err)
	}
	shot := os.Getenv("SWITCHBOARD_PHONE_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(dir, "phone.png")
	}
	s := browsertest.Start(ctx, t, browsertest.Options{Env: []string{"FAKE_AUDIO_WAV=" + wav}}, "phone.js", ts.URL+"/", "paula", testPassword, "1002", "walter", shot, "gustav", "1999")
	for _, name := range strings.Split("registered,connected-out,heard-out,ended-out,ringing,connected-in,ended-in,registration-error,registrar-gone,attempt-failed", ",") {
		var v struct {
			Hz           int    `json:"hz"`
			Ms           int    `json:"ms"`
			Text         string `json:"text"`
			CallDisabled bool   `json:"callDisabled"`
			Why          string `json:"why"`
			Recent       string `json:"recent"`
		}
		s.NextInto(ctx, t, name, &v)
		switch name {
		case "heard-out", "connected-in":
			if v.Hz < 950 || v.Hz > 1050 {
				t.Errorf("%s: the page heard %d Hz, want the far phone's 1000", name, v.Hz)
			}
		case "ended-out":
			if _, err := far.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
				t.Errorf("far phone: %v", err)
			}
			if hz, err := far.CheckHeard(440); err != nil {
				t.Errorf("far phone heard %.0f Hz: %v", hz, err)
			}
			if err := far.Dial(ctx, fmt.Sprintf("sip:1001@%s", k.Addr())); err != nil {
				t.Errorf("far phone dial: %v", err)
			}
		case "registration-error":
			if !strings.Contains(v.Text, "401") && !strings.Contains(strings.ToLower(v.Text), "password") {
				t.Errorf("registration error shown = %q, want the 401 in plain words", v.Text)
			}
			wantNoDial(t, name, v.Text, v.CallDisabled, v.Why, "password")
		case "registrar-gone":
			wantNoDial(t, name, v.Text, v.CallDisabled, v.Why, "cannot be reached")
		case "attempt-failed":
			if !strings.Contains(v.Text, "Number not found") || !strings.Contains(v.Recent, "failed: Number not found") {
				t.Errorf("failed attempt: status %q, recent %q; want it failed and why", v.Text, v.Recent)
			}
		}
		if name == "connected-in" {
			if err := far.WaitRecorded(ctx, time.Second); err != nil {
				t.Errorf("far phone recording: %v", err)
			}
			if hz, err := far.CheckHeard(440); err != nil {
				t.Errorf("far phone heard %.0f Hz in the incoming call: %v", hz, err)
			}
			if err := far.Hangup(ctx); err != nil {
				t.Errorf("far phone hangup: %v", err)
			}
		}
	}
	s.Finish(t)
}

// wantNoDial checks what the page says of an account that cannot
// register: the reason in plain words (no status line in capitals), the
// Call button off, and why, next to it.
func wantNoDial(t *testing.T, step, state string, disabled bool, why, words string) {
	t.Helper()
	if !strings.Contains(state, words) || capitals.MatchString(state) {
		t.Errorf("%s: account state %q, want %q in plain words", step, state, words)
	}
	if !disabled || !strings.Contains(why, "You cannot call yet") || !strings.Contains(why, words) {
		t.Errorf("%s: Call disabled %v, why %q; want it off and the reason given", step, disabled, why)
	}
}

// capitals finds a word in capitals, as a SIP status line writes them.
var capitals = regexp.MustCompile(`\b[A-Z]{4,}\b`)

// silentRegistrar is a loopback UDP address that takes REGISTERs and
// never answers them, until the test ends.
func silentRegistrar(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// TestBrowserCallWaiting: two baresip phones (1000 Hz and 1600 Hz) call
// the page's account one after the other through kamailio. Headless
// Chromium answers the first; the second rings discreetly (the call
// waiting panel, not the loud one); answering it moves the page's audio
// to it (the page hears 1600 Hz, the second phone the page's 440 Hz) and
// takes the first off the page's audio (held once the SIP side holds,
// otherwise said so); after the second hangs up, the page resumes the
// first and hears 1000 Hz again. SWITCHBOARD_PHONE_SHOTS=DIR keeps the
// screenshots.
func TestBrowserCallWaiting(t *testing.T) {
	browsertest.Require(t)
	k := siptest.StartKamailio(t, siptest.KamailioOptions{})
	first := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1002", Registrar: k.Addr(), ToneHz: 1000})
	second := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1003", Registrar: k.Addr(), ToneHz: 1600})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	for _, p := range []*siptest.Baresip{first, second} {
		if err := p.WaitRegistered(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ts := startSoftphone(t, []sipbridge.AccountConfig{
		{Name: "office", Registrar: k.Addr(), Username: "1001", Password: siptest.Password("1001"), Expires: 60},
	}, map[string][]string{"paula": {"office"}})

	wav := filepath.Join(t.TempDir(), "mic-440.wav")
	if err := siptest.WriteToneWAV(wav, 440, 48000, 1, 90); err != nil {
		t.Fatal(err)
	}
	s := browsertest.Start(ctx, t, browsertest.Options{Env: []string{"FAKE_AUDIO_WAV=" + wav}, Ack: true}, "phone_waiting.js", ts.URL+"/", "paula", testPassword, os.Getenv("SWITCHBOARD_PHONE_SHOTS"))
	account := "sip:1001@" + k.Addr()
	for _, name := range strings.Split("registered,first,waiting,second,second-ended,back,ended", ",") {
		var v struct {
			Hz    int    `json:"hz"`
			Media string `json:"media"`
		}
		s.NextInto(ctx, t, name, &v)
		hz := func(want int) {
			t.Helper()
			if v.Hz < want-50 || v.Hz > want+50 {
				t.Errorf("%s: the page heard %d Hz, want %d", name, v.Hz, want)
			}
		}
		switch name {
		case "registered":
			if err := first.Dial(ctx, account); err != nil {
				t.Fatalf("first phone dial: %v", err)
			}
		case "first":
			hz(1000)
			if err := second.Dial(ctx, account); err != nil {
				t.Fatalf("second phone dial: %v", err)
			}
		case "second":
			hz(1600)
			// local-hold once the SIP side holds; inactive (and a message
			// saying it hears nothing) while it cannot.
			if v.Media != "local-hold" && v.Media != "inactive" {
				t.Errorf("the first call's media is %q after answering the second, want it held or left", v.Media)
			}
			if err := second.WaitRecorded(ctx, time.Second); err != nil {
				t.Errorf("second phone recording: %v", err)
			}
			if got, err := second.CheckHeard(440); err != nil {
				t.Errorf("the second phone heard %.0f Hz: %v", got, err)
			}
		case "second-ended":
			if _, err := second.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
				t.Errorf("second phone: %v", err)
			}
		case "back":
			hz(1000)
		case "ended":
			if _, err := first.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
				t.Errorf("first phone: %v", err)
			}
		}
		s.Ack(t)
	}
	s.Finish(t)
}
