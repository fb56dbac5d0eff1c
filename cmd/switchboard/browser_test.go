package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
	"github.com/switchboard/switchboard/web/browsertest"
)

// TestBrowserWallboardAndHistory has headless Chromium sign in, watch a
// call ring (with a ticking timer), connect and end on the wallboard, and
// find it in the history.
func TestBrowserWallboardAndHistory(t *testing.T) {
	browsertest.Require(t)

	router := fritztest.New(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-browser"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	url := startServerWith(t, router, fmt.Sprintf("users:\n  - name: anna\n    password_hash: %q\n    role: admin\n", hash))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const number = "0301112223"
	s := browsertest.Start(ctx, t, browsertest.Options{}, "wallboard_history.js", url, "anna", "pw-browser", number)
	now := time.Now().UTC()
	stamp := func(d time.Duration) string { return now.Add(d).Format("02.01.06 15:04:05") }
	next := map[string]string{
		"wallboard": stamp(0) + ";RING;7;" + number + ";5551234;SIP1;",
		"ringing":   stamp(4*time.Second) + ";CONNECT;7;11;" + number + ";",
		"connected": stamp(34*time.Second) + ";DISCONNECT;7;30;",
	}
	for _, name := range []string{"wallboard", "ringing", "connected", "ended", "history"} {
		s.Next(ctx, t, name)
		if l, ok := next[name]; ok {
			router.Send(l)
		}
	}
	s.Finish(t)
}
