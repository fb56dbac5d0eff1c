package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/gateway"
	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// TestBrowserSoftphone: headless Chromium (fake microphone at 440 Hz) signs
// in, registers through kamailio, calls a baresip phone (1000 Hz) and both
// hear each other; the phone calls back, the page rings, answers, both hear
// each other, the phone hangs up and the page shows it; a user whose
// account has a wrong password sees the registration error.
func TestBrowserSoftphone(t *testing.T) {
	if testing.Short() || os.Getenv(siptest.EnvE2E) == "off" {
		t.Skip("real-peer test")
	}
	e2e, _ := filepath.Abs(filepath.Join("..", "testbed", "e2e"))
	_, errNode := exec.LookPath("node")
	_, errChromium := os.Stat("/usr/bin/chromium")
	_, errPW := os.Stat(filepath.Join(e2e, "node_modules", "playwright-core"))
	siptest.RequirePeer(t, "node, /usr/bin/chromium and playwright-core", errNode == nil && errChromium == nil && errPW == nil)

	k := siptest.StartKamailio(t, siptest.KamailioOptions{})
	far := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1002", Registrar: k.Addr(), ToneHz: 1000, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := far.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}

	hub := monitor.NewHub(monitor.HubConfig{})
	defer hub.Close()
	rtp := siptest.FreePorts(t, 20)
	bridge, err := sipbridge.New(sipbridge.Config{
		Listen: "127.0.0.1:0", RTPPortMin: rtp, RTPPortMax: rtp + 19,
		Accounts: []sipbridge.AccountConfig{
			{Name: "office", Registrar: k.Addr(), Username: "1001", Password: siptest.Password("1001"), Expires: 60},
			{Name: "wrong", Registrar: k.Addr(), Username: "1003", Password: "not-the-password", Expires: 60},
		},
	}, hub, sipbridge.WithLogger(quietLogger()))
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
	defer func() {
		_ = gw.Close()
		stop()
		<-bridgeDone
	}()
	select {
	case <-bridge.Ready():
	case err := <-bridgeDone:
		bridgeDone <- err // for the deferred wait, which would hang otherwise
		t.Fatalf("sip bridge: %v", err)
	}

	cfg := testConfig(t)
	cfg.Users = append(cfg.Users,
		User{Name: "paula", PasswordHash: cfg.Users[0].PasswordHash, Role: RoleUser, Accounts: []string{"office"}},
		User{Name: "walter", PasswordHash: cfg.Users[0].PasswordHash, Role: RoleUser, Accounts: []string{"wrong"}})
	srv, err := New(cfg, Deps{Hub: hub, Phone: gw}, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	dir := t.TempDir()
	wav := filepath.Join(dir, "mic-440.wav")
	if err := siptest.WriteToneWAV(wav, 440, 48000, 1, 30); err != nil {
		t.Fatal(err)
	}
	shot := os.Getenv("SWITCHBOARD_PHONE_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(dir, "phone.png")
	}
	cmd := exec.CommandContext(ctx, "node", "phone.js", ts.URL+"/", "paula", testPassword, "1002", "walter", shot)
	cmd.Dir = e2e
	cmd.Env = append(os.Environ(), "FAKE_AUDIO_WAV="+wav)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var steps []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "STEP ")
		if !ok {
			continue
		}
		name, arg, _ := strings.Cut(line, " ")
		steps = append(steps, name)
		var v struct {
			Hz   int    `json:"hz"`
			Ms   int    `json:"ms"`
			Text string `json:"text"`
		}
		if arg != "" {
			_ = json.Unmarshal([]byte(arg), &v)
		}
		t.Logf("step %s %s", name, arg)
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
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser script: %v after steps %v\n%s", err, steps, stderr.String())
	}
	want := "registered,connected-out,heard-out,ended-out,ringing,connected-in,ended-in,registration-error"
	if got := strings.Join(steps, ","); got != want {
		t.Fatalf("steps = %s, want %s\n%s", got, want, stderr.String())
	}
}
