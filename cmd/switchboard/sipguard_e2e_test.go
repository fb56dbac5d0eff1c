package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// TestSIPFromStrangersAndBursts runs the whole server with a softphone
// account registered at a real kamailio and a signed-in softphone page.
// An INVITE from a stranger (another loopback address) gets no answer, no
// ring on the page, no call on /events and no history row; 300 INVITEs
// at once from the registrar's address ring at most max_ringing_calls,
// the others hear busy, and the page stays connected.
func TestSIPFromStrangersAndBursts(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio")
	k := siptest.StartKamailio(t, siptest.KamailioOptions{})
	router := fritztest.New(t)
	sipPort := siptest.FreePort(t)
	const ringCap = 3
	url := startServerWith(t, router, softphoneNode{Registrar: k.Addr(), RTP: siptest.FreePorts(t, 20),
		SIPListen: fmt.Sprintf("127.0.0.1:%d", sipPort), Account: fmt.Sprintf("max_ringing_calls: %d", ringCap)}.yaml(t))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ev := dialEvents(t, ctx, url, "")
	ev.until(ctx, "office registered", func(m wsMsg) bool {
		list := m.Sources
		if m.Source != nil {
			list = append(list, *m.Source)
		}
		for _, s := range list {
			if s.Name == "office" && s.State == monitor.LinkRegistered {
				return true
			}
		}
		return false
	})
	page := openPhonePage(t, ctx, url, signIn(t, ctx, url, "paula", "pw-paula"))
	us := net.JoinHostPort("127.0.0.1", strconv.Itoa(sipPort))

	stranger := siptest.NewRawPeer(t, "127.0.0.2:0", us)
	if err := stranger.Invite("1001", "stranger@127.0.0.2", `<img src=x onerror=alert(1)>`); err != nil {
		t.Fatal(err)
	}
	refusedStranger := `switchboard_sip_refused_total{account="office",reason="untrusted-source"}`
	poll(t, ctx, "the stranger's INVITE refused", func() bool { return metric(t, ctx, url, refusedStranger) == 1 })

	flood := siptest.NewRawPeer(t, "127.0.0.1:0", us)
	const burst = 300
	flood.Flood(t, "1001", "burst-%d@127.0.0.1", burst, 60*time.Second)
	flood.Wait(t, 10*time.Second, "all but the ringing ones busy", func(final map[string]int, ringing map[string]bool) bool {
		busy := 0
		for _, c := range final {
			if c == 486 {
				busy++
			}
		}
		return busy == burst-ringCap && len(ringing) == ringCap
	})
	if n := stranger.Answers(); n != 0 {
		t.Errorf("the stranger got %d answers, want none", n)
	}
	if got := metric(t, ctx, url, `switchboard_sip_refused_total{account="office",reason="ringing-cap"}`); got != burst-ringCap {
		t.Errorf("ringing-cap refusals %v, want %d", got, burst-ringCap)
	}

	// The page rings the capped calls, and only those, and still answers.
	var ringing []string
	for len(ringing) < ringCap {
		m := page.expect(ctx, "incoming")
		var c phoneCall
		if err := json.Unmarshal(m.Call, &c); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(c.ID, "stranger") {
			t.Fatalf("the stranger's call rings: %s", c.ID)
		}
		ringing = append(ringing, c.ID)
	}
	page.send(ctx, map[string]any{"type": "hold", "call": "office:none", "id": "alive"})
	page.expect(ctx, "error")
	for _, id := range ringing {
		page.send(ctx, map[string]any{"type": "decline", "call": id})
	}

	// The history holds the declined calls and nothing else.
	poll(t, ctx, "the declined calls saved", func() bool { return len(historyCalls(t, ctx, url)) >= ringCap })
	saved := historyCalls(t, ctx, url)
	if len(saved) != ringCap {
		t.Errorf("%d calls in the history, want %d", len(saved), ringCap)
	}
	for id, c := range saved {
		if strings.Contains(string(id), "stranger") || c.From.Number == "" {
			t.Errorf("history row %s %+v", id, c.From)
		}
	}
	// /events carried the declined calls, and no other.
	seen := map[monitor.CallID]bool{}
	ended := 0
	ev.until(ctx, "the declined calls ended on /events", func(m wsMsg) bool {
		if m.Type != "call" {
			return false
		}
		seen[m.Call.ID] = true
		if m.Call.State == monitor.Ended {
			ended++
		}
		return ended == ringCap
	})
	if len(seen) != ringCap {
		t.Errorf("%d calls on /events, want %d: %v", len(seen), ringCap, seen)
	}
	for id := range seen {
		if strings.Contains(string(id), "stranger") {
			t.Errorf("the stranger's call on /events: %s", id)
		}
	}
	status, body := getWithToken(t, ctx, url+"api/calls")
	if status != 200 || strings.Contains(body, "stranger") || strings.Contains(body, "onerror") {
		t.Errorf("/api/calls: %d %s", status, body)
	}
	select {
	case m, open := <-page.msgs:
		if !open {
			t.Fatalf("the page was disconnected: %v", page.closed())
		}
		if m.Type == "incoming" {
			t.Errorf("another call rang: %s", m.Call)
		}
	default:
	}
}
