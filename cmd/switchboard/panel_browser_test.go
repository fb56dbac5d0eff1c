package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor/ami"
	"github.com/switchboard/switchboard/monitor/ami/amitest"
	"github.com/switchboard/switchboard/sipbridge/siptest"
	"github.com/switchboard/switchboard/web/browsertest"
)

// panelLamp is what testbed/e2e/panel.js reads off a lamp.
type panelLamp struct {
	Lamp, Word, Icon, Group, Message, Colour string
}

// TestBrowserPanel runs the real binary against the Asterisk stand-in
// (extensions, presence and queues listed as Asterisk lists them) and a
// headless Chromium signed in as an operator on /panel: the lamps show
// the listed states in colour, icon and word, in their configured
// groups; 201 rings and talks as the stand-in says; the support queue's
// waiting count rises when a caller joins and falls when they leave; a
// live call dragged onto 201's lamp is put through (the stand-in gets
// AMI Redirect to 201), and put through to 202 with the keyboard alone;
// Enter on a lamp dials it from the operator's own phone (Originate);
// the queue tile pauses an agent with a reason and resumes them
// (QueuePause); 203's lamp names whom it calls; the filter narrows the
// lamps. Then the panel and the wallboard's queue view at 390×844,
// 1920×1080 and 3840×2160, in English and (the first two) in German, and
// the wall screen's queue view at 3840×2160 reach past no edge. The screenshots go to
// $SWITCHBOARD_SCREENSHOTS when set.
func TestBrowserPanel(t *testing.T) {
	browsertest.Require(t)
	shots := os.Getenv("SWITCHBOARD_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	pbx := amitest.New(t, "admin", "pw")
	for action, file := range map[string]string{
		"ExtensionStateList": "extensionstatelist.jsonl", "DeviceStateList": "devicestatelist.jsonl",
		"PresenceStateList": "presencestatelist.jsonl", "QueueStatus": "queuestatus.jsonl", "QueueSummary": "queuesummary.jsonl",
	} {
		pbx.SetList(action, amiStateList(t, file)...)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-olga-panel"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
data_dir: %s
sources:
  - name: pbx
    type: ami
    address: %s
    username: admin
    secret: pw
    ping_interval: 1h
    reconnect_min: 20ms
    reconnect_max: 200ms
users:
  - name: olga
    password_hash: %q
    role: operator
    extension: "200"
panel:
  groups:
    - name: Reception
      extensions: ["201", "202"]
    - name: Support
      extensions: ["pbx:203@*", "204"]
`, siptest.FreePort(t), t.TempDir(), pbx.Addr(), hash)
	p := startSwitchboard(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := browsertest.Start(ctx, t, browsertest.Options{}, "panel.js", p.url, "olga", "pw-olga-panel", shots)
	// actions lists what the stand-in received of one AMI action, as
	// "Key=Value" of the fields named.
	actions := func(name string, keys ...string) []string {
		var got []string
		for _, a := range pbx.Actions() {
			if a.Get("Action") != name {
				continue
			}
			var f []string
			for _, k := range keys {
				f = append(f, k+"="+a.Get(k))
			}
			got = append(got, strings.Join(f, " "))
		}
		return got
	}
	exten := func(n, status string) ami.Message {
		return ami.M("Event", "ExtensionStatus", "Exten", n, "Context", "ext-local", "Hint", "PJSIP/"+n, "Status", status)
	}
	unmarshal := func(arg json.RawMessage, v any) {
		t.Helper()
		if err := json.Unmarshal(arg, v); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
	}
	for _, name := range strings.Split("panel,ringing,busy,waiting-up,waiting-down,dragged,keyboard-transfer,dialed,other-party,paused,resumed,filtered,layout", ",") {
		arg := s.Next(ctx, t, name)
		switch name {
		case "panel":
			var lamps map[string]panelLamp
			unmarshal(arg, &lamps)
			for id, want := range map[string]panelLamp{
				"pbx:201@ext-local": {Lamp: "free", Word: "free", Icon: "○", Group: "Reception"},
				"pbx:202@ext-local": {Lamp: "dnd", Word: "do not disturb", Icon: "⊘", Group: "Reception"},
				"pbx:203@ext-local": {Lamp: "busy", Word: "busy", Icon: "●", Group: "Support"},
				"pbx:204@ext-local": {Lamp: "offline", Word: "offline", Icon: "✕", Group: "Support"},
				"pbx:205@ext-local": {Lamp: "away", Word: "away", Icon: "◔", Group: "Other extensions", Message: "Lunch until 2"},
			} {
				got := lamps[id]
				if got.Lamp != want.Lamp || got.Word != want.Word || got.Icon != want.Icon || got.Group != want.Group || got.Message != want.Message {
					t.Errorf("lamp %s = %+v, want %+v", id, got, want)
				}
			}
			if lamps["pbx:201@ext-local"].Colour == lamps["pbx:203@ext-local"].Colour {
				t.Errorf("free and busy lamps share the colour %s", lamps["pbx:201@ext-local"].Colour)
			}
			pbx.Push(exten("201", "8"))
		case "ringing":
			pbx.Push(exten("201", "1"))
		case "busy":
			var l panelLamp
			unmarshal(arg, &l)
			if l.Word != "busy" || l.Icon != "●" {
				t.Errorf("201 busy: %+v", l)
			}
			pbx.Push(ami.M("Event", "QueueCallerJoin", "Channel", "PJSIP/trunk-00000031", "Uniqueid", "1700009000.31", "Linkedid", "1700009000.31",
				"CallerIDNum", "+49301234567", "CallerIDName", "<unknown>", "Queue", "support", "Position", "2", "Count", "2"))
		case "waiting-up":
			var w struct {
				Before, Up, Text string
				Callers          int
			}
			unmarshal(arg, &w)
			if w.Before != "1" || w.Up != "2" || w.Text != "2" || w.Callers != 2 {
				t.Errorf("waiting %+v, want 1 then 2 with both callers listed", w)
			}
			pbx.Push(ami.M("Event", "QueueCallerLeave", "Channel", "PJSIP/trunk-00000031", "Uniqueid", "1700009000.31", "Linkedid", "1700009000.31",
				"Queue", "support", "Position", "2", "Count", "1"))
		case "waiting-down":
			// A live call comes in from the trunk; 201 is free again.
			pbx.Push(exten("201", "0"))
			pbx.Push(ami.M("Event", "Newchannel", "Channel", "PJSIP/trunk-00000041", "Uniqueid", "1700009100.41", "Linkedid", "1700009100.41",
				"CallerIDNum", "0891234567", "CallerIDName", "Max Muster", "Exten", "600", "Context", "from-trunk", "ChannelStateDesc", "Up", "ChannelState", "6"))
		case "dragged":
			if got, want := actions("Redirect", "Channel", "Exten", "Context"), []string{"Channel=PJSIP/trunk-00000041 Exten=201 Context=from-internal"}; !slices.Equal(got, want) {
				t.Errorf("Redirect actions %q, want %q", got, want)
			}
		case "keyboard-transfer":
			var k struct {
				First, Second string
				PickHidden    bool
			}
			unmarshal(arg, &k)
			if k.First != "pbx:201@ext-local" || k.Second != "pbx:202@ext-local" || !k.PickHidden {
				t.Errorf("keyboard transfer %+v", k)
			}
			if got := actions("Redirect", "Exten"); !slices.Equal(got, []string{"Exten=201", "Exten=202"}) {
				t.Errorf("Redirect actions %q, want to 201 then 202", got)
			}
		case "dialed":
			if got, want := actions("Originate", "Channel", "Exten"), []string{"Channel=PJSIP/200 Exten=203"}; !slices.Equal(got, want) {
				t.Errorf("Originate actions %q, want %q", got, want)
			}
			// 203 calls out; its lamp should name whom.
			pbx.Push(ami.M("Event", "Newchannel", "Channel", "PJSIP/203-00000051", "Uniqueid", "1700009200.51", "Linkedid", "1700009200.51",
				"CallerIDNum", "203", "CallerIDName", "Cleo", "Exten", "0301234567", "Context", "from-internal", "ChannelStateDesc", "Ring", "ChannelState", "4"))
			pbx.Push(exten("203", "1"))
		case "other-party":
			var o struct{ Text string }
			unmarshal(arg, &o)
			if !strings.Contains(o.Text, "0301234567") {
				t.Errorf("203's lamp names %q, want the number it calls", o.Text)
			}
		case "paused":
			if got, want := actions("QueuePause", "Queue", "Interface", "Paused", "Reason"), []string{"Queue=support Interface=PJSIP/201 Paused=true Reason=training"}; !slices.Equal(got, want) {
				t.Errorf("QueuePause actions %q, want %q", got, want)
			}
			pbx.Push(ami.M("Event", "QueueMemberPause", "Queue", "support", "MemberName", "Anna", "Interface", "PJSIP/201", "StateInterface", "PJSIP/201",
				"Membership", "static", "Status", "1", "Paused", "1", "PausedReason", "training", "InCall", "0", "CallsTaken", "12"))
		case "resumed":
			var r struct{ PausedText string }
			unmarshal(arg, &r)
			if !strings.Contains(r.PausedText, "training") {
				t.Errorf("paused member shows %q, want the reason", r.PausedText)
			}
			if got := actions("QueuePause", "Paused"); !slices.Equal(got, []string{"Paused=true", "Paused=false"}) {
				t.Errorf("QueuePause actions %q", got)
			}
			pbx.Push(ami.M("Event", "QueueMemberPause", "Queue", "support", "MemberName", "Anna", "Interface", "PJSIP/201", "StateInterface", "PJSIP/201",
				"Membership", "static", "Status", "1", "Paused", "0", "PausedReason", "", "InCall", "0", "CallsTaken", "12"))
		case "filtered":
			var ids []string
			unmarshal(arg, &ids)
			if !slices.Equal(ids, []string{"pbx:205@ext-local"}) {
				t.Errorf("filter 205 shows %q", ids)
			}
		case "layout":
			var l struct {
				Problems map[string][]string
				Tile     map[string]struct {
					Text, Level string
					Px          float64
				}
			}
			unmarshal(arg, &l)
			if len(l.Problems) != 11 {
				t.Errorf("layout measured at %d sizes and languages, want 11", len(l.Problems))
			}
			for size, ps := range l.Problems {
				for _, pr := range ps {
					t.Errorf("%s: %s", size, pr)
				}
			}
			// support: one caller waiting (listed with 42 s, so beyond
			// wait_warn), SL 80 % (at sl_warn: good).
			if w := l.Tile["wq-waiting"]; w.Text != "1" || w.Px < 100 {
				t.Errorf("wall queue waiting %+v, want 1 in type of 100 px or more on a 4K screen", w)
			}
			if sl := l.Tile["wq-sl"]; sl.Text != "80 %" || sl.Level != "ok" {
				t.Errorf("wall queue SL %+v, want 80 %% and good", sl)
			}
			if lw := l.Tile["wq-longest"]; lw.Level != "warn" && lw.Level != "bad" {
				t.Errorf("wall queue longest wait %+v: beyond 30 s is to watch", lw)
			}
		}
	}
	s.Finish(t)
	for _, want := range []string{"action=transfer", "action=originate", "action=queue-pause"} {
		if _, err := p.waitLog(ctx, "call control", "user=olga", want); err != nil {
			t.Errorf("log: %v", err)
		}
	}
}
