package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// TestBrowserSoftphoneAcrossRestart has headless Chromium keep the
// softphone page open while the real binary is stopped with SIGTERM and
// started again on the same address and data: the page says the server
// is going away, keeps trying, and is registered again afterwards by
// itself, its sign-in kept across the restart.
func TestBrowserSoftphoneAcrossRestart(t *testing.T) {
	e2e := browserE2E(t)
	k := siptest.StartKamailio(t, siptest.KamailioOptions{})
	cfg := softphoneNode{Registrar: k.Addr(), RTP: siptest.FreePorts(t, 20),
		More: fmt.Sprintf("listen: 127.0.0.1:%d\ndata_dir: %s\n", siptest.FreePort(t), t.TempDir())}.yaml(t)
	p := startSwitchboard(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "phone_restart.js", p.url, "paula", "pw-paula")
	cmd.Dir = e2e
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
		t.Logf("step %s %s", name, arg)
		if name == "registered" {
			p.signal(syscall.SIGTERM)
			if code := p.waitExit(30 * time.Second); code != 0 {
				t.Errorf("exit status %d, want 0", code)
			}
			p = startSwitchboard(t, cfg)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser script: %v after steps %v\n%s", err, steps, stderr.String())
	}
	if got := strings.Join(steps, ","); got != "registered,going-away,registered-again" {
		t.Fatalf("steps = %s\n%s", got, stderr.String())
	}
}
