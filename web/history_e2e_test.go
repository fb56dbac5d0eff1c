package web

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// TestBrowserClickToCall: in headless Chromium, a softphone user clicks a
// caller's number in the history and the softphone page opens with the
// number in its dial field.
func TestBrowserClickToCall(t *testing.T) {
	if testing.Short() || os.Getenv(siptest.EnvE2E) == "off" {
		t.Skip("real-peer test")
	}
	e2e, _ := filepath.Abs(filepath.Join("..", "testbed", "e2e"))
	_, errNode := exec.LookPath("node")
	_, errChromium := os.Stat("/usr/bin/chromium")
	_, errPW := os.Stat(filepath.Join(e2e, "node_modules", "playwright-core"))
	siptest.RequirePeer(t, "node, /usr/bin/chromium and playwright-core", errNode == nil && errChromium == nil && errPW == nil)

	h := newHistoryEnv(t, historyOptions{phone: true})
	h.save(t, "a", "home", "2026-11-23 09:00", false, monitor.Party{Number: "0170 1234567", Name: "Erika"}, num("5551234"))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "click_to_call.js", h.ts.URL+"/", "bob", testPassword, "0170 1234567")
	cmd.Dir = e2e
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("browser script: %v\n%s", err, out)
	}
	var dial string
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "DIAL "); ok {
			dial = v
		}
	}
	if dial != "01701234567" {
		t.Fatalf("dial field %q after the click, want 01701234567\n%s", dial, out)
	}
}
