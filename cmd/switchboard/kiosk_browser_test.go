package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
	"github.com/switchboard/switchboard/sipbridge/siptest"
	"github.com/switchboard/switchboard/web/browsertest"
)

// kioskFigures is what testbed/e2e/kiosk.js reads off the board.
type kioskFigures struct {
	Total   map[string]string   `json:"total"`
	Sources []map[string]string `json:"sources"`
	Bars    int                 `json:"bars"`
	Rows    []struct {
		ID, Started, Result, Direction string
	} `json:"rows"`
	Shown int `json:"shown"`
}

// TestBrowserKiosk runs the real binary with a Fritz!Box stand-in and
// two headless Chromiums: an admin makes a link for a screen named Hall
// TV on the devices page, the TV opens it once and shows the kiosk view.
// The test plays known calls and wants the day's figures to match them;
// measures the kiosk at 1920×1080, 3840×2160 and 390×844 and the board at
// 1920×1080 and 390×844 (nothing reaches past the screen's edges, nothing
// is cut off, no number wraps; a wall screen has no scroll bar); stops
// the server (the board says so, with since when) and starts it again on
// the same data (the TV is still signed in, also after a reload, and the
// figures are the same); stops the Fritz!Box (the board says the source
// is down) and starts it again; and has the admin revoke the TV, which
// then says it is no longer signed in. The screenshots go to
// $SWITCHBOARD_SCREENSHOTS when set.
func TestBrowserKiosk(t *testing.T) {
	browsertest.Require(t)
	shots := os.Getenv("SWITCHBOARD_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	router := fritztest.New(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-anna-kiosk"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
data_dir: %s
sources:
  - name: home
    type: fritz
    address: %s
    location: UTC
    reconnect_min: 20ms
    reconnect_max: 200ms
    link_grace: 100ms
users:
  - name: anna
    password_hash: %q
    role: admin
`, siptest.FreePort(t), t.TempDir(), router.Addr(), hash)
	p := startSwitchboard(t, cfg)

	// The calls lie in today as the server counts it (its own zone), even
	// just after midnight; the router's lines carry UTC (location: UTC).
	now := time.Now()
	base := now.Add(-70 * time.Second)
	if y, m, d := now.Date(); base.Before(time.Date(y, m, d, 0, 0, 0, 0, now.Location())) {
		base = time.Date(y, m, d, 0, 0, 1, 0, now.Location())
	}
	stamp := func(s int) string { return base.Add(time.Duration(s) * time.Second).UTC().Format("02.01.06 15:04:05") }
	// Answered after 6 s and talked 30 s; missed after ringing 20 s; an
	// outgoing call answered after 3 s that talked 60 s — in time order.
	played := []string{
		stamp(0) + ";RING;1;0891234567;5551234;SIP0;",
		stamp(1) + ";RING;2;01701234567;5551234;SIP0;",
		stamp(2) + ";CALL;3;11;5551234;004930123456789;SIP1;",
		stamp(5) + ";CONNECT;3;11;004930123456789;",
		stamp(6) + ";CONNECT;1;12;0891234567;",
		stamp(21) + ";DISCONNECT;2;0;",
		stamp(36) + ";DISCONNECT;1;30;",
		stamp(65) + ";DISCONNECT;3;60;",
	}
	// The fourth call rings 30 s and is given up.
	ring4 := stamp(100) + ";RING;4;004989123456789012;5551234;SIP0;"
	end4 := stamp(130) + ";DISCONNECT;4;0;"
	// Then a busy spell: forty short calls, two of three answered.
	var busy []string
	for i := range 40 {
		at, id := 140+3*i, 10+i
		number := "0" + strings.Repeat(strconv.Itoa(i%10), 9+i%7)
		busy = append(busy, stamp(at)+fmt.Sprintf(";RING;%d;%s;5551234;SIP0;", id, number))
		if i%3 == 0 {
			busy = append(busy, stamp(at+2)+fmt.Sprintf(";DISCONNECT;%d;0;", id))
			continue
		}
		busy = append(busy, stamp(at+1)+fmt.Sprintf(";CONNECT;%d;12;%s;", id, number), stamp(at+2)+fmt.Sprintf(";DISCONNECT;%d;1;", id))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := browsertest.Start(ctx, t, browsertest.Options{}, "kiosk.js", p.url, "anna", "pw-anna-kiosk", shots)
	wantFigures := func(step string, f kioskFigures, want map[string]string) {
		t.Helper()
		for k, v := range want {
			if f.Total[k] != v {
				t.Errorf("%s: %s = %q, want %q (all: %v)", step, k, f.Total[k], v, f.Total)
			}
		}
		if f.Bars != f.Shown {
			t.Errorf("%s: the chart has %d calls, the list %d", step, f.Bars, f.Shown)
		}
		if !slices.IsSortedFunc(f.Rows, func(a, b struct{ ID, Started, Result, Direction string }) int {
			ta, _ := time.Parse(time.RFC3339Nano, a.Started)
			tb, _ := time.Parse(time.RFC3339Nano, b.Started)
			return tb.Compare(ta)
		}) {
			t.Errorf("%s: today's calls not newest first: %+v", step, f.Rows)
		}
	}
	three := map[string]string{"fig-calls": "3", "fig-answered": "1", "fig-missed": "1", "fig-rate": "50",
		"fig-avg-wait": "6", "fig-avg-talk": "45", "fig-longest-wait": "20"}
	four := map[string]string{"fig-calls": "4", "fig-answered": "1", "fig-missed": "2", "fig-rate": "33",
		"fig-avg-wait": "6", "fig-avg-talk": "45", "fig-longest-wait": "30"}
	var last kioskFigures
	for _, name := range strings.Split("kiosk,figures,languages,layout,figures-4,layout-busy,stop-server,stale,back,stop-source,source-down,source-up,revoked", ",") {
		arg := s.Next(ctx, t, name)
		var f kioskFigures
		switch name {
		case "kiosk":
			for _, l := range played {
				router.Send(l)
			}
		case "figures":
			if err := json.Unmarshal(arg, &f); err != nil {
				t.Fatal(err)
			}
			wantFigures(name, f, three)
			var results, dirs []string
			for _, r := range f.Rows {
				results, dirs = append(results, r.Result), append(dirs, r.Direction)
			}
			if want := []string{"answered", "missed", "answered"}; !slices.Equal(results, want) {
				t.Errorf("results %q, want %q (newest first: outgoing, missed, answered)", results, want)
			}
			if want := []string{"outgoing", "incoming", "incoming"}; !slices.Equal(dirs, want) {
				t.Errorf("directions %q, want %q", dirs, want)
			}
			if len(f.Sources) != 1 || f.Sources[0]["source"] != "home" || f.Sources[0]["calls"] != "3" {
				t.Errorf("per source %v", f.Sources)
			}
			router.Send(ring4)
		case "languages":
			var langs map[string]struct {
				Lang, Today, Ringing string
				Results              []string
			}
			if err := json.Unmarshal(arg, &langs); err != nil {
				t.Fatal(err)
			}
			for key, want := range map[string]struct{ lang, today, ringing, result string }{
				"kiosk en":   {"en", "Today", "ringing", "answered"},
				"kiosk de":   {"de", "Heute", "klingelt", "angenommen"},
				"board en":   {"en", "Today", "ringing", "answered"},
				"board de":   {"de", "Heute", "klingelt", "angenommen"},
				"board back": {"en", "Today", "ringing", "answered"},
			} {
				got := langs[key]
				if got.Lang != want.lang || got.Today != want.today || got.Ringing != want.ringing || !slices.Contains(got.Results, want.result) {
					t.Errorf("%s: %+v, want lang %s, %q, %q and %q among the results", key, got, want.lang, want.today, want.ringing, want.result)
				}
			}
		case "layout":
			var problems map[string][]string
			if err := json.Unmarshal(arg, &problems); err != nil {
				t.Fatal(err)
			}
			if len(problems) != 9 {
				t.Errorf("layout measured at %d sizes and languages, want 9", len(problems))
			}
			for size, ps := range problems {
				for _, pr := range ps {
					t.Errorf("%s: %s", size, pr)
				}
			}
			router.Send(end4)
		case "figures-4":
			if err := json.Unmarshal(arg, &f); err != nil {
				t.Fatal(err)
			}
			wantFigures(name, f, four)
			for _, l := range busy {
				router.Send(l)
			}
		case "layout-busy":
			var sizes map[string]struct {
				kioskFigures
				Problems []string `json:"problems"`
				Note     string   `json:"note"`
			}
			if err := json.Unmarshal(arg, &sizes); err != nil {
				t.Fatal(err)
			}
			for size, v := range sizes {
				for _, pr := range v.Problems {
					t.Errorf("busy %s: %s", size, pr)
				}
				// The first four (one answered, two missed) and forty, every
				// third of them missed: 27 answered, 16 missed.
				wantFigures("busy "+size, v.kioskFigures, map[string]string{"fig-calls": "44", "fig-answered": "27", "fig-missed": "16"})
				if len(v.Rows) == 0 || len(v.Rows) >= v.Shown || !strings.Contains(v.Note, fmt.Sprintf("the latest %d", len(v.Rows))) {
					t.Errorf("busy %s: %d of %d calls shown, note %q: want the latest that fit, and said so", size, len(v.Rows), v.Shown, v.Note)
				}
			}
			// The screen comes back at 1920×1080.
			last = sizes["kiosk 1920x1080"].kioskFigures
		case "back":
			if err := json.Unmarshal(arg, &f); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(f.Total, last.Total) || !slices.EqualFunc(f.Rows, last.Rows, func(a, b struct{ ID, Started, Result, Direction string }) bool { return a == b }) {
				t.Errorf("after the restart %v %+v, before %v %+v", f.Total, f.Rows, last.Total, last.Rows)
			}
		case "stop-server":
			p.signal(syscall.SIGTERM)
			if code := p.waitExit(30 * time.Second); code != 0 {
				t.Errorf("exit status %d, want 0", code)
			}
		case "stale":
			p = startSwitchboard(t, cfg)
		case "stop-source":
			router.Stop()
		case "source-down":
			router.Restart()
		case "revoked":
			var r struct{ Text, URL string }
			if err := json.Unmarshal(arg, &r); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(r.Text, "An admin revoked this screen") || !strings.HasSuffix(r.URL, "/wall") {
				t.Errorf("revoked screen shows %q at %s", r.Text, r.URL)
			}
		}
	}
	s.Finish(t)
	if _, err := p.waitLog(ctx, "wall screen revoked", `device="Hall TV"`); err != nil {
		t.Errorf("log: %v", err)
	}
}
