package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
	"github.com/switchboard/switchboard/web/browsertest"
)

// TestBrowserOneTimeZone has headless Chromium, in Tokyo, watch a call
// end on the wallboard of a server configured for New York (on a machine
// in neither), then find it in the history: both pages show the call's
// start in New York, the same to the second.
func TestBrowserOneTimeZone(t *testing.T) {
	browsertest.Require(t)

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
	s := browsertest.Start(ctx, t, browsertest.Options{Env: []string{"TZ=" + browser}}, "timezone.js", url, "anna", "pw-browser", number)
	// The source reads the router's lines in UTC (location: UTC), so
	// the call starts at start.
	start := time.Now().UTC().Truncate(time.Second)
	stamp := func(d time.Duration) string { return start.Add(d).Format("02.01.06 15:04:05") }
	var times struct {
		BrowserZone, PageZone, Wallboard, WallboardReloaded, History string
	}
	s.Next(ctx, t, "wallboard")
	router.Send(stamp(0) + ";RING;3;" + number + ";5551234;SIP1;")
	router.Send(stamp(2*time.Second) + ";CONNECT;3;11;" + number + ";")
	router.Send(stamp(5*time.Second) + ";DISCONNECT;3;3;")
	s.Next(ctx, t, "ended")
	s.Next(ctx, t, "history")
	s.Finish(t)
	for _, l := range s.Lines("TIMES ") {
		if err := json.Unmarshal([]byte(l), &times); err != nil {
			t.Fatalf("times %q: %v", l, err)
		}
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
