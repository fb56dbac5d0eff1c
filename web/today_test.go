package web

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/switchboard/switchboard/monitor"
)

// CallsBetween makes the fake a dayHistory, like *history.Store.
func (h *fakeHistory) CallsBetween(_ context.Context, from, to time.Time, fn func(monitor.Call) error) error {
	h.mu.Lock()
	var sel []monitor.Call
	for _, c := range h.calls {
		if !c.Started.Before(from) && c.Started.Before(to) {
			sel = append(sel, c)
		}
	}
	err := h.err
	h.mu.Unlock()
	if err != nil {
		return err
	}
	slices.SortStableFunc(sel, func(a, b monitor.Call) int { return a.Started.Compare(b.Started) })
	for _, c := range sel {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

// dayCall is an ended call of source started at start, which rang wait
// before it was answered (answered) or given up, and then talked talk.
func dayCall(source monitor.SourceName, key string, dir monitor.Direction, reason monitor.Reason, start time.Time, wait, talk time.Duration, answered bool) monitor.Call {
	c := monitor.Call{ID: monitor.MakeCallID(source, key), Source: source, Direction: dir, State: monitor.Ended, Reason: reason,
		From: monitor.Party{Number: "0301112223"}, To: monitor.Party{Number: "20"}, Started: start}
	c.Ended = start.Add(wait)
	if answered {
		c.Answered = start.Add(wait)
		c.Duration = int64(talk / time.Second)
		c.Ended = c.Answered.Add(talk)
	}
	return c
}

// TestTodayFigures: the figures of the day from the calls of the
// history: counted by the day they started in the display zone, missed
// without those answered elsewhere, waits and talk rounded to seconds,
// the rate rounded down, per source and per hour.
func TestTodayFigures(t *testing.T) {
	t.Parallel()
	// The server's clock stands at noon, so that midnight cannot pass
	// during the test.
	noon := time.Date(2026, 12, 1, 12, 0, 0, 0, time.Local)
	e := newEnv(t, testConfig(t), monitor.HubConfig{}, WithClock(func() time.Time { return noon }))
	mid, _ := dayBounds(noon, e.srv.displayZone())
	at := func(h, m int) time.Time { return mid.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	calls := []monitor.Call{
		dayCall("home", "1", monitor.Inbound, monitor.ReasonCompleted, at(8, 0), 4*time.Second, 30*time.Second, true),
		dayCall("home", "2", monitor.Inbound, monitor.ReasonCompleted, at(8, 10), 7*time.Second, 90*time.Second, true),
		dayCall("home", "3", monitor.Inbound, monitor.ReasonNoAnswer, at(8, 20), 25*time.Second, 0, false),
		dayCall("home", "4", monitor.Inbound, monitor.ReasonAnsweredElsewhere, at(9, 0), 40*time.Second, 0, false),
		dayCall("home", "5", monitor.Outbound, monitor.ReasonCompleted, at(9, 5), 3*time.Second, 60*time.Second, true),
		dayCall("pbx", "6", monitor.Inbound, monitor.ReasonBusy, at(9, 30), time.Second, 0, false),
		dayCall("pbx", "7", monitor.Internal, monitor.ReasonCompleted, at(9, 40), 2*time.Second, 11*time.Second, true),
		// Yesterday: not today's.
		dayCall("home", "0", monitor.Inbound, monitor.ReasonNoAnswer, mid.Add(-time.Minute), 50*time.Second, 0, false),
	}
	for _, c := range calls {
		e.hist.add(c)
	}
	c := e.client(t)
	e.login(t, c, "vera")
	resp, body := get(t, c, e.ts.URL+"/api/today")
	var got Today
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil {
		t.Fatalf("GET /api/today: %d %s", resp.StatusCode, body)
	}
	rate := func(n int) *int { return &n }
	want := Figures{Calls: 7, Inbound: 5, Outbound: 1, Internal: 1, Answered: 2, Missed: 2, AnswerRate: rate(50),
		AvgWait: 6, AvgTalk: 48, LongestWait: 40}
	if !sameFigures(got.Total, want) {
		t.Errorf("total %+v\nwant  %+v", got.Total, want)
	}
	if len(got.Sources) != 2 || got.Sources[0].Source != "home" || got.Sources[1].Source != "pbx" {
		t.Fatalf("sources %+v", got.Sources)
	}
	wantHome := Figures{Source: "home", Calls: 5, Inbound: 4, Outbound: 1, Answered: 2, Missed: 1, AnswerRate: rate(66), AvgWait: 6, AvgTalk: 60, LongestWait: 40}
	if !sameFigures(got.Sources[0], wantHome) {
		t.Errorf("home %+v\nwant %+v", got.Sources[0], wantHome)
	}
	wantPBX := Figures{Source: "pbx", Calls: 2, Inbound: 1, Internal: 1, Missed: 1, AnswerRate: rate(0), AvgTalk: 11, LongestWait: 1}
	if !sameFigures(got.Sources[1], wantPBX) {
		t.Errorf("pbx %+v\nwant %+v", got.Sources[1], wantPBX)
	}
	var hours, missed int
	for _, h := range got.Hours {
		hours += h.Calls
		missed += h.Missed
	}
	if len(got.Hours) != 24 || hours != 7 || missed != 2 {
		t.Errorf("hours %+v: want 24 with 7 calls, 2 missed", got.Hours)
	}
	if got.Hours[calls[0].Started.In(e.srv.displayZone()).Hour()].Calls == 0 {
		t.Errorf("the first call's hour is empty: %+v", got.Hours)
	}
	if len(got.Recent) != 7 || got.Recent[0].ID != "pbx:7" || got.Recent[6].ID != "home:1" || got.Date != mid.Format(time.DateOnly) {
		t.Errorf("recent %d calls from %s to %s on %s, want 7 newest first on %s", len(got.Recent), got.Recent[0].ID, got.Recent[len(got.Recent)-1].ID, got.Date, mid.Format(time.DateOnly))
	}

	// The board shows the same on first paint.
	_, page := get(t, c, e.ts.URL+"/wall")
	doc := parseHTML(t, page)
	for id, v := range map[string]string{"fig-calls": "7", "fig-answered": "2", "fig-missed": "2", "fig-rate": "50", "fig-avg-wait": "6", "fig-avg-talk": "48", "fig-longest-wait": "40"} {
		if got := doc.Find(`[data-testid="`+id+`"]`).AttrOr("data-value", "?"); got != v {
			t.Errorf("%s = %s, want %s", id, got, v)
		}
	}
	if n := doc.Find(`[data-testid="source-figures"]`).Length(); n != 2 {
		t.Errorf("%d sources' figures, want 2", n)
	}
	if n := doc.Find(`[data-testid="hour-chart"] g.bar`).Length(); n < 1 {
		t.Error("no bar in the chart")
	}
	words := doc.Find(`[data-testid="recent-result"]`).Map(func(_ int, s *goquery.Selection) string { return strings.TrimSpace(s.Text()) })
	if want := []string{"answered", "busy", "answered", "answered elsewhere", "missed", "answered", "answered"}; !slices.Equal(words, want) {
		t.Errorf("results %q, want %q", words, want)
	}
}

func sameFigures(a, b Figures) bool {
	ra, rb := -1, -1
	if a.AnswerRate != nil {
		ra = *a.AnswerRate
	}
	if b.AnswerRate != nil {
		rb = *b.AnswerRate
	}
	a.AnswerRate, b.AnswerRate = nil, nil
	a.waitSum, a.talkSum, a.talked = 0, 0, 0
	b.waitSum, b.talkSum, b.talked = 0, 0, 0
	return a == b && ra == rb
}

// TestResultWords: how every end reason reads on the wallboard.
func TestResultWords(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		dir      monitor.Direction
		reason   monitor.Reason
		answered bool
		want     ResultView
	}{
		{monitor.Inbound, monitor.ReasonCompleted, true, ResultView{"answered", "answered"}},
		{monitor.Inbound, monitor.ReasonNoAnswer, false, ResultView{"missed", "missed"}},
		{monitor.Inbound, monitor.ReasonCancelled, false, ResultView{"missed", "missed"}},
		{monitor.Outbound, monitor.ReasonCancelled, false, ResultView{"no answer", "noanswer"}},
		{monitor.Outbound, monitor.ReasonNoAnswer, false, ResultView{"no answer", "noanswer"}},
		{monitor.Inbound, monitor.ReasonBusy, false, ResultView{"busy", "busy"}},
		{monitor.Outbound, monitor.ReasonRejected, false, ResultView{"declined", "declined"}},
		{monitor.Inbound, monitor.ReasonAbandoned, false, ResultView{"abandoned", "abandoned"}},
		{monitor.Inbound, monitor.ReasonAnsweredElsewhere, false, ResultView{"answered elsewhere", "elsewhere"}},
		{monitor.Inbound, monitor.ReasonFailed, false, ResultView{"failed", "failed"}},
		{monitor.Inbound, monitor.ReasonFailed, true, ResultView{"answered", "answered"}},
		{monitor.Inbound, "", false, ResultView{"missed", "missed"}},
		{monitor.Internal, "", false, ResultView{"ended", "ended"}},
	}
	for _, tt := range tests {
		c := monitor.Call{Direction: tt.dir, Reason: tt.reason, State: monitor.Ended, Started: at, Ended: at.Add(time.Minute)}
		if tt.answered {
			c.Answered = at.Add(time.Second)
		}
		if got := resultOf(c); got != tt.want {
			t.Errorf("%s %q answered=%v: %+v, want %+v", tt.dir, tt.reason, tt.answered, got, tt.want)
		}
	}
}

// TestKioskView: /wall and /?kiosk=1 show the board without menu, user
// name or sign-out, with a clock, and without call control even for an
// admin; the board at / keeps them.
func TestKioskView(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	e.hub.Call(testCall("pbx", "1", monitor.Ringing))
	c := e.client(t)
	e.login(t, c, "anna")
	for _, path := range []string{"/wall", "/?kiosk=1"} {
		resp, page := get(t, c, e.ts.URL+path)
		doc := parseHTML(t, page)
		if resp.StatusCode != http.StatusOK || doc.Find(`[data-testid="wallboard"]`).Length() != 1 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		for _, sel := range []string{`[data-testid="nav"]`, `[data-testid="user"]`, `[data-testid="logout"]`, `[data-testid="control"]`, `[data-testid="call-hangup"]`} {
			if doc.Find(sel).Length() != 0 {
				t.Errorf("%s shows %s", path, sel)
			}
		}
		if doc.Find(`[data-testid="clock"]`).Length() != 1 || !doc.Find("html").HasClass("kiosk") {
			t.Errorf("%s: no clock, or not in kiosk mode", path)
		}
		var boot WallboardBoot
		if err := json.Unmarshal([]byte(doc.Find("#wallboard-data").Text()), &boot); err != nil || !boot.Kiosk || boot.Admin {
			t.Errorf("%s boot %+v %v: want kiosk, no admin", path, boot, err)
		}
	}
	_, page := get(t, c, e.ts.URL+"/")
	doc := parseHTML(t, page)
	for _, sel := range []string{`[data-testid="nav"]`, `[data-testid="logout"]`, `[data-testid="control"]`, `[data-testid="call-hangup"]`} {
		if doc.Find(sel).Length() == 0 {
			t.Errorf("/ lacks %s", sel)
		}
	}
	if doc.Find(`[data-testid="clock"]`).Length() != 0 {
		t.Error("/ shows the kiosk clock")
	}
	if got := strings.TrimSpace(doc.Find(`[data-testid="call-direction"]`).First().Text()); got != "incoming" {
		t.Errorf("direction %q, want incoming", got)
	}
}

// TestErrorPages: a 404 keeps the frame (the menu of whoever is signed
// in) and says what to do; the favicon is there.
func TestErrorPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	c := e.client(t)
	e.login(t, c, "vera")
	resp, page := get(t, c, e.ts.URL+"/no/such/page")
	doc := parseHTML(t, page)
	if resp.StatusCode != http.StatusNotFound || doc.Find(`[data-testid="nav"]`).Length() != 1 ||
		doc.Find(`[data-testid="error-message"]`).Text() != "There is no page at /no/such/page." ||
		doc.Find(`[data-testid="error-hint"]`).Length() != 1 || doc.Find(`[data-testid="error-link-wallboard"]`).Length() != 1 {
		t.Errorf("404 signed in: %d\n%s", resp.StatusCode, page)
	}
	resp, page = get(t, e.client(t), e.ts.URL+"/wall/no-such-code")
	doc = parseHTML(t, page)
	if msg := doc.Find(`[data-testid="error-message"]`).Text(); resp.StatusCode != http.StatusNotFound ||
		!strings.Contains(msg, "ask an admin to make a new one") || doc.Find(`[data-testid="error-link-login"]`).Length() != 1 {
		t.Errorf("used wall link: %d %q", resp.StatusCode, msg)
	}
	if !strings.Contains(page, `rel="icon"`) {
		t.Error("no favicon link")
	}
	resp, _ = get(t, e.client(t), e.ts.URL+"/favicon.ico")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("favicon: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
