package web

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/web/browsertest"
)

// TestBrowserClickToCall: in headless Chromium, a softphone user clicks a
// caller's number in the history and the softphone page opens with the
// number in its dial field.
func TestBrowserClickToCall(t *testing.T) {
	browsertest.Require(t)

	h := newHistoryEnv(t, historyOptions{phone: true})
	h.save(t, "a", "home", "2026-11-23 09:00", false, monitor.Party{Number: "0170 1234567", Name: "Erika"}, num("5551234"))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s := browsertest.Start(ctx, t, browsertest.Options{}, "click_to_call.js", h.ts.URL+"/", "bob", testPassword, "0170 1234567")
	s.Finish(t)
	var dial string
	for _, v := range s.Lines("DIAL ") {
		dial = v
	}
	if dial != "01701234567" {
		t.Fatalf("dial field %q after the click, want 01701234567\n%s", dial, s.Stderr())
	}
}
