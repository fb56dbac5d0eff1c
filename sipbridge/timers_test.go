package sipbridge

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestParseSessionExpires(t *testing.T) {
	tests := []struct {
		in        string
		interval  time.Duration
		refresher string
		bad       bool
	}{
		{in: "1800", interval: 1800 * time.Second},
		{in: "1800;refresher=uac", interval: 1800 * time.Second, refresher: "uac"},
		{in: " 600 ; refresher = UAS", interval: 600 * time.Second, refresher: "uas"},
		{in: "90;x-vendor=1;refresher=uac", interval: 90 * time.Second, refresher: "uac"},
		{in: "1800;REFRESHER=uas", interval: 1800 * time.Second, refresher: "uas"},
		{in: "1800;refresher", bad: true},
		{in: "1800;refresher=both", bad: true},
		{in: "0", bad: true},
		{in: "-5", bad: true},
		{in: "+5", bad: true},
		{in: "abc", bad: true},
		{in: "", bad: true},
		{in: "99999999999", bad: true},
		{in: "86401", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			se, err := parseSessionExpires(tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", se)
				}
				return
			}
			if err != nil || se.interval != tt.interval || se.refresher != tt.refresher {
				t.Fatalf("got %+v, %v; want %v %q", se, err, tt.interval, tt.refresher)
			}
		})
	}
	if d, err := parseMinSE("90;foo=bar"); err != nil || d != 90*time.Second {
		t.Errorf("Min-SE 90;foo=bar = %v, %v", d, err)
	}
	if _, err := parseMinSE("ninety"); err == nil {
		t.Error("Min-SE ninety parsed")
	}
}

// FuzzParseSessionExpires feeds the values of testdata/session-expires.txt
// and checks that parsing never panics and that what parses is written
// and parsed back to the same value.
func FuzzParseSessionExpires(f *testing.F) {
	file, err := os.Open("testdata/session-expires.txt")
	if err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if line := sc.Text(); !strings.HasPrefix(line, "#") {
			f.Add(line)
		}
	}
	file.Close()
	f.Fuzz(func(t *testing.T, v string) {
		if d, err := parseMinSE(v); err == nil && (d < 0 || d > maxSessionInterval) {
			t.Fatalf("Min-SE %q = %v", v, d)
		}
		se, err := parseSessionExpires(v)
		if err != nil {
			return
		}
		if se.interval <= 0 || se.interval > maxSessionInterval {
			t.Fatalf("%q: interval %v", v, se.interval)
		}
		back, err := parseSessionExpires(se.String())
		if err != nil || back != se {
			t.Fatalf("%q -> %q -> %+v, %v", v, se.String(), back, err)
		}
	})
}

// request builds an INVITE with the given extra headers.
func request(hdrs ...string) *sip.Request {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "1000", Host: "127.0.0.1"})
	for _, h := range hdrs {
		name, val, _ := strings.Cut(h, ":")
		req.AppendHeader(sip.NewHeader(name, strings.TrimSpace(val)))
	}
	return req
}

func TestUASTimer(t *testing.T) {
	now := time.Unix(1000, 0)
	running := sessionTimer{interval: 10 * time.Minute, weRefresh: true, since: time.Unix(10, 0)}
	tests := []struct {
		name      string
		req       *sip.Request
		cur       sessionTimer
		want      sessionTimer
		tooSmall  bool
		bad       bool
		respond   []string
		noRespond []string
	}{
		{name: "no timer asked", req: request(), want: sessionTimer{}, respond: []string{"Supported: timer"}, noRespond: []string{"Session-Expires"}},
		{name: "caller refreshes", req: request("Supported: timer", "Session-Expires: 1800;refresher=uac"),
			want: sessionTimer{interval: 1800 * time.Second, since: now}, respond: []string{"Session-Expires: 1800;refresher=uac", "Require: timer"}},
		{name: "we refresh", req: request("Supported: timer", "Session-Expires: 300;refresher=uas"),
			want: sessionTimer{interval: 300 * time.Second, weRefresh: true, since: now}, respond: []string{"Session-Expires: 300;refresher=uas"}, noRespond: []string{"Require"}},
		{name: "ours to choose, caller knows timers", req: request("k: timer", "x: 600"),
			want: sessionTimer{interval: 600 * time.Second, since: now}, respond: []string{"Session-Expires: 600;refresher=uac"}},
		{name: "ours to choose, caller does not know timers", req: request("Session-Expires: 600"),
			want: sessionTimer{interval: 600 * time.Second, weRefresh: true, since: now}, respond: []string{"Session-Expires: 600;refresher=uas"}},
		{name: "too small for a caller that knows timers", req: request("Supported: 100rel, timer", "Session-Expires: 30"), tooSmall: true},
		{name: "too small for a caller that does not", req: request("Session-Expires: 30;refresher=uac"),
			want: sessionTimer{interval: 90 * time.Second, weRefresh: true, since: now}, respond: []string{"Session-Expires: 90;refresher=uas"}},
		{name: "malformed", req: request("Session-Expires: soon"), bad: true},
		{name: "re-invite without the header refreshes the running timer", req: request(), cur: running,
			want: sessionTimer{interval: 10 * time.Minute, weRefresh: true, since: now}, respond: []string{"Session-Expires: 600;refresher=uas"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, tooSmall, err := uasTimer(tt.req, tt.cur, 90*time.Second, now)
			if tt.bad != (err != nil) || tooSmall != tt.tooSmall {
				t.Fatalf("tooSmall %v err %v", tooSmall, err)
			}
			if tt.bad || tt.tooSmall {
				return
			}
			if got != tt.want {
				t.Fatalf("timer %+v, want %+v", got, tt.want)
			}
			res := sip.NewResponse(200, "OK")
			for _, h := range got.responseHeaders() {
				res.AppendHeader(h)
			}
			for _, want := range tt.respond {
				name, val, _ := strings.Cut(want, ": ")
				if h := res.GetHeader(name); h == nil || h.Value() != val {
					t.Errorf("response %s = %v, want %q", name, h, val)
				}
			}
			for _, name := range tt.noRespond {
				if h := res.GetHeader(name); h != nil {
					t.Errorf("response has %s: %s", name, h.Value())
				}
			}
		})
	}
}

func TestUACTimer(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		hdr  string
		want sessionTimer
		bad  bool
	}{
		{"", sessionTimer{}, false},
		{"Session-Expires: 1800;refresher=uac", sessionTimer{interval: 1800 * time.Second, weRefresh: true, since: now}, false},
		{"Session-Expires: 1800;refresher=uas", sessionTimer{interval: 1800 * time.Second, since: now}, false},
		// A proxy asked for it and the far end knows nothing of timers.
		{"Session-Expires: 1800", sessionTimer{interval: 1800 * time.Second, weRefresh: true, since: now}, false},
		{"x: 90;refresher=uas", sessionTimer{interval: 90 * time.Second, since: now}, false},
		{"Session-Expires: never", sessionTimer{}, true},
	}
	for _, tt := range tests {
		res := sip.NewResponse(200, "OK")
		if name, val, ok := strings.Cut(tt.hdr, ": "); ok {
			res.AppendHeader(sip.NewHeader(name, val))
		}
		got, err := uacTimer(res, now)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("%q: %+v, %v; want %+v", tt.hdr, got, err, tt.want)
		}
	}
}

func TestSessionTimerDue(t *testing.T) {
	start := time.Unix(1000, 0)
	s := sessionTimer{interval: 90 * time.Second, weRefresh: true, since: start}
	other := s
	other.weRefresh = false
	long := sessionTimer{interval: 1800 * time.Second, since: start}
	tests := []struct {
		name  string
		s     sessionTimer
		at    time.Duration
		tried bool
		want  sessionAction
		next  time.Duration
	}{
		{"no timer", sessionTimer{}, time.Hour, false, sessionWait, -1},
		{"refresher waits for half", s, 10 * time.Second, false, sessionWait, 45 * time.Second},
		{"refresher refreshes at half", s, 45 * time.Second, false, sessionRefresh, 60 * time.Second},
		{"refresher tried once this period", s, 50 * time.Second, true, sessionWait, 60 * time.Second},
		{"expiry: interval less a third", other, 59 * time.Second, false, sessionWait, 60 * time.Second},
		{"expired", other, 60 * time.Second, false, sessionExpired, -1},
		{"refresher whose refresh failed expires too", s, 61 * time.Second, true, sessionExpired, -1},
		{"long interval: less 32 s", long, 1767 * time.Second, false, sessionWait, 1768 * time.Second},
		{"long interval expired", long, 1768 * time.Second, false, sessionExpired, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			act, next := tt.s.due(start.Add(tt.at), tt.tried)
			if act != tt.want {
				t.Fatalf("action %d, want %d", act, tt.want)
			}
			if tt.next < 0 {
				if !next.IsZero() {
					t.Fatalf("next %v, want none", next)
				}
				return
			}
			if got := next.Sub(start); got != tt.next {
				t.Fatalf("next at +%v, want +%v", got, tt.next)
			}
		})
	}
}

func TestTimerRequestHeaders(t *testing.T) {
	s := sessionTimer{interval: 90 * time.Second, weRefresh: true}
	hs := map[string]string{}
	for _, h := range s.requestHeaders(120 * time.Second) {
		hs[h.Name()] = h.Value()
	}
	if hs["Session-Expires"] != "120;refresher=uac" || hs["Min-SE"] != "120" || hs["Supported"] != "timer" {
		t.Errorf("headers %v", hs)
	}
	s.weRefresh = false
	for _, h := range s.requestHeaders(0) {
		if h.Name() == "Session-Expires" && h.Value() != "90;refresher=uas" {
			t.Errorf("Session-Expires %s", h.Value())
		}
		if h.Name() == "Min-SE" {
			t.Errorf("Min-SE %s without a 422", h.Value())
		}
	}
}

func TestGlareDelay(t *testing.T) {
	for range 200 {
		if d := glareDelay(true); d < 2100*time.Millisecond || d > 4*time.Second || d%(10*time.Millisecond) != 0 {
			t.Fatalf("owner waits %v", d)
		}
		if d := glareDelay(false); d < 0 || d > 2*time.Second || d%(10*time.Millisecond) != 0 {
			t.Fatalf("non-owner waits %v", d)
		}
	}
}
