package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
)

// TestBrowserWallboardAndHistory has headless Chromium sign in, watch a
// call ring (with a ticking timer), connect and end on the wallboard, and
// find it in the history.
func TestBrowserWallboardAndHistory(t *testing.T) {
	e2e := browserE2E(t)

	router := fritztest.New(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-browser"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	url := startServerWith(t, router, fmt.Sprintf("users:\n  - name: anna\n    password_hash: %q\n    role: admin\n", hash))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const number = "0301112223"
	cmd := exec.CommandContext(ctx, "node", "wallboard_history.js", url, "anna", "pw-browser", number)
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
	now := time.Now().UTC()
	stamp := func(d time.Duration) string { return now.Add(d).Format("02.01.06 15:04:05") }
	next := map[string]string{
		"wallboard": stamp(0) + ";RING;7;" + number + ";5551234;SIP1;",
		"ringing":   stamp(4*time.Second) + ";CONNECT;7;11;" + number + ";",
		"connected": stamp(34*time.Second) + ";DISCONNECT;7;30;",
	}
	var steps []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		s, ok := strings.CutPrefix(line, "STEP ")
		if !ok {
			continue
		}
		steps = append(steps, s)
		if l, ok := next[s]; ok {
			router.Send(l)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser script: %v after steps %v\n%s", err, steps, stderr.String())
	}
	if got := strings.Join(steps, ","); got != "wallboard,ringing,connected,ended,history" {
		t.Fatalf("steps = %s\n%s", got, stderr.String())
	}
}
