package history

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// ended builds an ended call started n minutes after t0.
func ended(source monitor.SourceName, key string, n int, dir monitor.Direction, answered bool, from, to string) monitor.Call {
	c := monitor.Call{
		ID:        monitor.MakeCallID(source, key),
		Source:    source,
		Direction: dir,
		State:     monitor.Ended,
		From:      monitor.Party{Number: from, Name: "Caller " + from},
		To:        monitor.Party{Number: to},
		Line:      "SIP0",
		Started:   t0.Add(time.Duration(n) * time.Minute),
		Ended:     t0.Add(time.Duration(n)*time.Minute + 40*time.Second),
	}
	c.Reason = monitor.ReasonNoAnswer
	if dir == monitor.Outbound {
		c.Reason = monitor.ReasonCancelled
	}
	if answered {
		c.Answered = c.Started.Add(5 * time.Second)
		c.AnsweredBy = &monitor.Party{Number: to, Extension: "10"}
		c.Duration = 35
		c.Reason = monitor.ReasonCompleted
	}
	return c
}

func open(t *testing.T, path string) *Store {
	t.Helper()
	return openAt(t, path)
}

// openAt opens the history at a path of place (a file, or a PostgreSQL
// database), closed at the end of the test.
func openAt(t *testing.T, path string, opts ...Option) *Store {
	t.Helper()
	s, err := openPlace(context.Background(), path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRoundTripAndReopen(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			path := place(t, be)
			s := openAt(t, path)
			ctx := context.Background()
			c := ended("home", "0-1", 0, monitor.Inbound, true, "01701234567", "1234567")
			c.Vars = map[string]string{"k": "v"}
			c.Transfers = []monitor.Transfer{{Kind: monitor.TransferBlind, Targets: []monitor.Party{{Number: "20"}}, At: t0}}
			c.Cause = "16"
			if err := s.Save(ctx, c); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2 := openAt(t, path)
			p, err := s2.Query(ctx, Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Total != 1 || len(p.Calls) != 1 {
				t.Fatalf("page %+v, want the one call", p)
			}
			got := p.Calls[0]
			if !got.Started.Equal(c.Started) || !got.Answered.Equal(c.Answered) || !got.Ended.Equal(c.Ended) {
				t.Errorf("times changed: %+v", got)
			}
			// JSON keeps instants, not locations.
			got.Started, got.Answered, got.Ended, got.Transfers[0].At = c.Started, c.Answered, c.Ended, c.Transfers[0].At
			if !reflect.DeepEqual(got, c) {
				t.Errorf("round trip\n got %+v\nwant %+v", got, c)
			}
			if be != SQLite {
				return
			}
			var mode string
			if err := s2.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal_mode %q %v, want wal", mode, err)
			}
			var sync int
			if err := s2.db.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
				t.Errorf("synchronous %d %v, want 2 (FULL)", sync, err)
			}
		})
	}
}

func TestSaveUpsertsAndKeepsReusedIDsApart(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			s := openAt(t, place(t, be))
			ctx := context.Background()
			a := ended("home", "0", 0, monitor.Inbound, false, "0301", "1234567")
			if err := s.Save(ctx, a); err != nil {
				t.Fatal(err)
			}
			a.Reason, a.Cause = monitor.ReasonFailed, "link lost"
			if err := s.Save(ctx, a); err != nil {
				t.Fatal(err)
			}
			// Same id, another call (a source that reuses its keys).
			b := ended("home", "0", 10, monitor.Inbound, false, "0302", "1234567")
			if err := s.Save(ctx, b); err != nil {
				t.Fatal(err)
			}
			p, err := s.Query(ctx, Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Total != 2 || p.Calls[1].Reason != monitor.ReasonFailed || p.Calls[0].From.Number != "0302" {
				t.Fatalf("page %+v", p)
			}
		})
	}
}

func TestSaveRejectsActiveCalls(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			s := openAt(t, place(t, be))
			c := ended("home", "0", 0, monitor.Inbound, false, "0301", "1")
			c.State = monitor.Ringing
			if err := s.Save(context.Background(), c); !errors.Is(err, ErrNotEnded) {
				t.Fatalf("Save = %v, want ErrNotEnded", err)
			}
		})
	}
}

func TestQueryFilters(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			s := openAt(t, place(t, be))
			ctx := context.Background()
			calls := []monitor.Call{
				ended("home", "a", 0, monitor.Inbound, true, "01701234567", "1234567"),   // answered
				ended("home", "b", 1, monitor.Inbound, false, "04011122233", "7654321"),  // missed
				ended("home", "c", 2, monitor.Outbound, false, "1234567", "0891234567"),  // cancelled
				ended("pbx", "d", 3, monitor.Inbound, false, "01701234567", "200"),       // missed, other source
				ended("pbx", "e", 4, monitor.Internal, false, "201", "202"),              // internal unanswered: not missed
				ended("home", "f", 5, monitor.Outbound, true, "1234567", "0301%_\\x"),    // LIKE wildcards in a number
				ended("home", "g", 60*24, monitor.Inbound, false, "0170999", "1234567"),  // the next day
				ended("pbx", "h", 60*24+1, monitor.Outbound, true, "200", "01701234567"), // the next day, answered
			}
			for _, c := range calls {
				if err := s.Save(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			day2 := t0.Add(24 * time.Hour)
			tests := []struct {
				name  string
				f     Filter
				want  []string // keys, newest first
				total int
			}{
				{"all", Filter{}, []string{"h", "g", "f", "e", "d", "c", "b", "a"}, 8},
				{"number substring in from or to", Filter{Number: "1234567"}, []string{"h", "g", "f", "d", "c", "a"}, 6},
				{"number 0170", Filter{Number: "0170"}, []string{"h", "g", "d", "a"}, 4},
				{"source", Filter{Source: "pbx"}, []string{"h", "e", "d"}, 3},
				{"missed", Filter{Outcome: OutcomeMissed}, []string{"g", "d", "b"}, 3},
				{"answered", Filter{Outcome: OutcomeAnswered}, []string{"h", "f", "a"}, 3},
				{"missed at home", Filter{Outcome: OutcomeMissed, Source: "home"}, []string{"g", "b"}, 2},
				{"since", Filter{Since: day2}, []string{"h", "g"}, 2},
				{"until", Filter{Until: t0.Add(2 * time.Minute)}, []string{"b", "a"}, 2},
				{"since and until", Filter{Since: t0.Add(time.Minute), Until: t0.Add(4 * time.Minute)}, []string{"d", "c", "b"}, 3},
				{"percent is literal", Filter{Number: "%"}, []string{"f"}, 1},
				{"underscore is literal", Filter{Number: "_"}, []string{"f"}, 1},
				{"backslash is literal", Filter{Number: `\x`}, []string{"f"}, 1},
				{"nothing", Filter{Number: "999999999"}, []string{}, 0},
				{"page 1", Filter{Limit: 3}, []string{"h", "g", "f"}, 8},
				{"page 2", Filter{Limit: 3, Offset: 3}, []string{"e", "d", "c"}, 8},
				{"page 3", Filter{Limit: 3, Offset: 6}, []string{"b", "a"}, 8},
				{"past the end", Filter{Limit: 3, Offset: 9}, []string{}, 8},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					p, err := s.Query(ctx, tt.f)
					if err != nil {
						t.Fatal(err)
					}
					got := []string{}
					for _, c := range p.Calls {
						got = append(got, string(c.ID[len(c.Source)+1:]))
					}
					if !reflect.DeepEqual(got, tt.want) || p.Total != tt.total {
						t.Errorf("got %v total %d, want %v total %d", got, p.Total, tt.want, tt.total)
					}
				})
			}
			recent, err := s.Recent(ctx, day2, 1)
			if err != nil || len(recent) != 1 || recent[0].ID != "pbx:h" {
				t.Errorf("Recent = %+v, %v", recent, err)
			}
		})
	}
}

// TestQueryMissedLeavesAnsweredElsewhere: a call that rang here while
// another device took it is in the history as answered elsewhere, not
// among the missed calls.
func TestQueryMissedLeavesAnsweredElsewhere(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			s := openAt(t, place(t, be))
			ctx := context.Background()
			missed := ended("office", "missed", 0, monitor.Inbound, false, "1001", "1000")
			elsewhere := ended("office", "elsewhere", 1, monitor.Inbound, false, "1001", "1000")
			elsewhere.Reason, elsewhere.Cause = monitor.ReasonAnsweredElsewhere, "487"
			for _, c := range []monitor.Call{missed, elsewhere} {
				if err := s.Save(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			p, err := s.Query(ctx, Filter{Outcome: OutcomeMissed})
			if err != nil {
				t.Fatal(err)
			}
			if p.Total != 1 || len(p.Calls) != 1 || p.Calls[0].ID != missed.ID {
				t.Errorf("missed = %+v (total %d), want only %s", p.Calls, p.Total, missed.ID)
			}
			all, err := s.Query(ctx, Filter{})
			if err != nil || all.Total != 2 || all.Calls[0].Reason != monitor.ReasonAnsweredElsewhere || all.Calls[0].Missed() {
				t.Errorf("all = %+v, %v; want the answered-elsewhere call kept as such", all.Calls, err)
			}
		})
	}
}

func TestQueryRejectsBadFilters(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			s := openAt(t, place(t, be))
			for _, f := range []Filter{{Outcome: "lost"}, {Offset: -1}, {Limit: -1}} {
				if _, err := s.Query(context.Background(), f); !errors.Is(err, ErrBadFilter) {
					t.Errorf("Query(%+v) = %v, want ErrBadFilter", f, err)
				}
			}
		})
	}
}

func TestQueryLimitBounds(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			s := openAt(t, place(t, be))
			ctx := context.Background()
			for i := range MaxLimit + 10 {
				if err := s.Save(ctx, ended("home", fmt.Sprint(i), i, monitor.Inbound, false, "1", "2")); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct{ limit, want int }{{0, DefaultLimit}, {MaxLimit + 5, MaxLimit}, {7, 7}} {
				p, err := s.Query(ctx, Filter{Limit: tc.limit})
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Calls) != tc.want || p.Total != MaxLimit+10 {
					t.Errorf("limit %d: %d calls of %d, want %d", tc.limit, len(p.Calls), p.Total, tc.want)
				}
			}
		})
	}
}

func TestObserveSavesEndedCallsFromTheHub(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			s := openAt(t, place(t, be))
			hub := monitor.NewHub(monitor.HubConfig{}, monitor.WithObserver(s.Observe))
			tr := monitor.NewTracker("home", hub)
			tr.Start("0", monitor.Call{From: monitor.Party{Number: "0301"}, To: monitor.Party{Number: "1234567"}, Started: t0})
			tr.Answer("0", nil, t0.Add(3*time.Second))
			hub.SourceStatus(monitor.SourceStatus{Name: "home", State: monitor.LinkConnected})
			p, err := s.Query(context.Background(), Filter{})
			if err != nil || p.Total != 0 {
				t.Fatalf("active call saved: %+v %v", p, err)
			}
			tr.End("0", monitor.Ending{At: t0.Add(63 * time.Second)})
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			p, err = s.Query(context.Background(), Filter{})
			if err != nil || p.Total != 1 || p.Calls[0].Duration != 60 || p.Calls[0].Reason != monitor.ReasonCompleted {
				t.Fatalf("after end: %+v %v", p, err)
			}
		})
	}
}

func TestObserveSurvivesAClosedStore(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			s, err := openPlace(context.Background(), place(t, be))
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			c := ended("home", "0", 0, monitor.Inbound, false, "1", "2")
			s.Observe(monitor.NewEvent(1, t0, &c)) // logs, must not panic
		})
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	for _, p := range []string{"", "a?b.db"} {
		if _, err := Open(context.Background(), p); !errors.Is(err, ErrBadPath) {
			t.Errorf("Open(%q) = %v, want ErrBadPath", p, err)
		}
	}
}
