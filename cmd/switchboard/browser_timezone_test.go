package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
)

// TestBrowserOneTimeZone has headless Chromium, in Tokyo, watch a call
// end on the wallboard of a server configured for New York (on a machine
// in neither), then find it in the history: both pages show the call's
// start in New York, the same to the second.
func TestBrowserOneTimeZone(t *testing.T) {
	e2e := browserE2E(t)

	const display, browser = "America/New_York", "Asia/Tokyo"
	ny, err := time.LoadLocation(display)
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := time.Now().Zone(); name == "EST" || name == "EDT" {
		t.Skip("this machine is in New York's zone: the test needs a display zone of its own")
	}
	router := fritztest.New(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-browser"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	url := startServerWith(t, router, fmt.Sprintf("timezone: %s\nusers:\n  - name: anna\n    password_hash: %q\n    role: admin\n", display, hash))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const number = "0301114445"
	cmd := exec.CommandContext(ctx, "node", "timezone.js", url, "anna", "pw-browser", number)
	cmd.Dir = e2e
	cmd.Env = append(os.Environ(), "TZ="+browser)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The source reads the router's lines in UTC (location: UTC), so
	// the call starts at start.
	start := time.Now().UTC().Truncate(time.Second)
	stamp := func(d time.Duration) string { return start.Add(d).Format("02.01.06 15:04:05") }
	var steps []string
	var times struct {
		BrowserZone, PageZone, Wallboard, WallboardReloaded, History string
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if s, ok := strings.CutPrefix(line, "TIMES "); ok {
			if err := json.Unmarshal([]byte(s), &times); err != nil {
				t.Fatalf("times %q: %v", s, err)
			}
			continue
		}
		s, ok := strings.CutPrefix(line, "STEP ")
		if !ok {
			continue
		}
		steps = append(steps, s)
		if s == "wallboard" {
			router.Send(stamp(0) + ";RING;3;" + number + ";5551234;SIP1;")
			router.Send(stamp(2*time.Second) + ";CONNECT;3;11;" + number + ";")
			router.Send(stamp(5*time.Second) + ";DISCONNECT;3;3;")
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser script: %v after steps %v\n%s", err, steps, stderr.String())
	}
	if got := strings.Join(steps, ","); got != "wallboard,ended,history" {
		t.Fatalf("steps = %s\n%s", got, stderr.String())
	}
	if times.BrowserZone != browser || times.PageZone != display {
		t.Fatalf("the browser is in %q and the page formats in %q; want %s and %s", times.BrowserZone, times.PageZone, browser, display)
	}
	// As web's formatWhen shows it: the time alone on the day it is now
	// in New York.
	local, now := start.In(ny), time.Now().In(ny)
	want := local.Format("2006-01-02 15:04")
	if local.YearDay() == now.YearDay() && local.Year() == now.Year() {
		want = local.Format("15:04:05")
	}
	if times.Wallboard != want || times.WallboardReloaded != want || times.History != want {
		t.Errorf("the call started %s (%s in New York); wallboard %q, after a reload %q, history %q; want %q in each",
			start.Format(time.RFC3339), local.Format(time.DateTime), times.Wallboard, times.WallboardReloaded, times.History, want)
	}
}
