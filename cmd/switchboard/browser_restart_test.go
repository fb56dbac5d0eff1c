package main

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard/switchboard/sipbridge/siptest"
	"github.com/switchboard/switchboard/web/browsertest"
)

// TestBrowserSoftphoneAcrossRestart has headless Chromium keep the
// softphone page open while the real binary is stopped with SIGTERM and
// started again on the same address and data: the page says the server
// is going away, keeps trying, and is registered again afterwards by
// itself, its sign-in kept across the restart.
func TestBrowserSoftphoneAcrossRestart(t *testing.T) {
	browsertest.Require(t)
	k := siptest.StartKamailio(t, siptest.KamailioOptions{})
	cfg := softphoneNode{Registrar: k.Addr(), RTP: siptest.FreePorts(t, 20),
		More: fmt.Sprintf("listen: 127.0.0.1:%d\ndata_dir: %s\n", siptest.FreePort(t), t.TempDir())}.yaml(t)
	p := startSwitchboard(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := browsertest.Start(ctx, t, browsertest.Options{}, "phone_restart.js", p.url, "paula", "pw-paula")
	s.Next(ctx, t, "registered")
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(30 * time.Second); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	// Again on the same address and data: the page finds it by itself.
	startSwitchboard(t, cfg)
	s.Next(ctx, t, "going-away")
	s.Next(ctx, t, "registered-again")
	s.Finish(t)
}
