package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// TestBrowserSoftphoneAcrossNodes has headless Chromium keep paula's
// softphone page open on node B, in English and in German, while her
// page on node A (the /phone WebSocket) answers the call a baresip phone
// made to the account: the browser page rang, then says in words that
// the call was answered on another device, and its recent calls list it
// as answered elsewhere, not missed.
func TestBrowserSoftphoneAcrossNodes(t *testing.T) {
	e2e := browserE2E(t)
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
			cmd := exec.CommandContext(ctx, "node", "phone_fork.js", nodeB.url, "paula", "pw-paula", tc.accept, strconv.Itoa(n+1), shot)
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
					if err := json.Unmarshal([]byte(arg), &v); err != nil {
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
			if err := cmd.Wait(); err != nil {
				t.Fatalf("browser script: %v after steps %v\n%s", err, steps, stderr.String())
			}
			if got := strings.Join(steps, ","); got != "registered,ringing,ended" {
				t.Fatalf("steps = %s\n%s", got, stderr.String())
			}
		})
	}
}
