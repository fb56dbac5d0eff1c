package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge/siptest"
	"github.com/switchboard/switchboard/web/browsertest"
)

// TestBrowserSoftphoneAcrossNodes has headless Chromium keep paula's
// softphone page open on node B, in English and in German, while her
// page on node A (the /phone WebSocket) answers the call a baresip phone
// made to the account: the browser page rang, then says in words that
// the call was answered on another device, and its recent calls list it
// as answered elsewhere, not missed.
func TestBrowserSoftphoneAcrossNodes(t *testing.T) {
	browsertest.Require(t)
	siptest.RequireBinaries(t, "kamailio", "baresip")
	k := siptest.StartKamailio(t, siptest.KamailioOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	nodeA := startSwitchboard(t, forkNodeConfig(t, t.TempDir(), k.Addr(), siptest.FreePorts(t, 20)))
	nodeB := startSwitchboard(t, forkNodeConfig(t, t.TempDir(), k.Addr(), siptest.FreePorts(t, 20)))
	registered := map[monitor.SourceName]monitor.LinkState{"office": monitor.LinkRegistered}
	subscribeEvents(t, ctx, nodeA.url, e2eToken, registered)
	subscribeEvents(t, ctx, nodeB.url, e2eToken, registered)
	pageA := openPhonePage(t, ctx, nodeA.url, signIn(t, ctx, nodeA.url, "paula", "pw-paula"))
	phone := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1001", Registrar: k.Addr(), ToneHz: 1000, Codecs: []string{"PCMU"}})
	if err := phone.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}

	for n, tc := range []struct {
		lang, accept, status, recent string
	}{
		{"en", "en-US,en;q=0.9", "Answered on another device", "answered elsewhere"},
		{"de", "de-DE,de;q=0.9", "Auf einem anderen Gerät angenommen", "anderswo angenommen"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			shot := filepath.Join(t.TempDir(), "phone-"+tc.lang+".png")
			if dir := os.Getenv("SWITCHBOARD_PHONE_SHOTS"); dir != "" {
				shot = filepath.Join(dir, "phone-fork-"+tc.lang+".png")
			}
			s := browsertest.Start(ctx, t, browsertest.Options{}, "phone_fork.js", nodeB.url, "paula", "pw-paula", tc.accept, strconv.Itoa(n+1), shot)
			for _, name := range []string{"registered", "ringing", "ended"} {
				arg := s.Next(ctx, t, name)
				switch name {
				case "registered":
					if err := phone.Dial(ctx, "sip:1000@"+k.Addr()); err != nil {
						t.Fatal(err)
					}
				case "ringing":
					id := pageA.incomingID(ctx)
					pageA.send(ctx, map[string]any{"type": "answer", "call": id})
					pageA.expectCall(ctx, "connected")
				case "ended":
					var v struct {
						Status         string `json:"status"`
						IncomingHidden bool   `json:"incomingHidden"`
						Lang           string `json:"lang"`
						Recent         []struct {
							Text   string `json:"text"`
							Missed bool   `json:"missed"`
						} `json:"recent"`
					}
					if err := json.Unmarshal(arg, &v); err != nil {
						t.Fatalf("ended step %s: %v", arg, err)
					}
					if v.Lang != tc.lang || v.Status != tc.status || !v.IncomingHidden {
						t.Errorf("node B's page (lang %q) says %q, ringing hidden %v; want %q and the ringing gone", v.Lang, v.Status, v.IncomingHidden, tc.status)
					}
					missed := false
					for _, r := range v.Recent {
						missed = missed || r.Missed
					}
					if len(v.Recent) != n+1 || !strings.Contains(v.Recent[0].Text, tc.recent) || missed {
						t.Errorf("node B's recent calls %+v, want %d, the newest %q and not missed", v.Recent, n+1, tc.recent)
					}
					if err := phone.Hangup(ctx); err != nil {
						t.Fatal(err)
					}
					if c := pageA.expectEnded(ctx); c.Reason != string(monitor.ReasonCompleted) {
						t.Errorf("node A's call ended %+v, want completed", c)
					}
				}
			}
			s.Finish(t)
		})
	}
}
