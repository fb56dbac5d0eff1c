package monitor

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// recorder is a Sink that keeps everything it is given.
type recorder struct {
	mu      sync.Mutex
	calls   []Call
	sources []SourceStatus
	users   []UserEvent
}

func (r *recorder) Call(c Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
}

func (r *recorder) SourceStatus(s SourceStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sources = append(r.sources, s)
}

func (r *recorder) UserEvent(e UserEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.users = append(r.users, e)
}

func (r *recorder) last(t *testing.T) Call {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		t.Fatal("no call published")
	}
	return r.calls[len(r.calls)-1]
}

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func TestTrackerLifecycle(t *testing.T) {
	tests := []struct {
		name         string
		dir          Direction
		run          func(tr *Tracker)
		wantStates   []State
		wantReason   Reason
		wantDuration int64
	}{
		{
			name: "inbound answered and hung up is completed",
			dir:  Inbound,
			run: func(tr *Tracker) {
				tr.Answer("1", nil, at(5))
				tr.End("1", Ending{At: at(65)})
			},
			wantStates:   []State{Ringing, Connected, Ended},
			wantReason:   ReasonCompleted,
			wantDuration: 60,
		},
		{
			name:       "inbound unanswered is a missed call",
			dir:        Inbound,
			run:        func(tr *Tracker) { tr.End("1", Ending{At: at(20)}) },
			wantStates: []State{Ringing, Ended},
			wantReason: ReasonNoAnswer,
		},
		{
			name:       "outbound unanswered is cancelled",
			dir:        Outbound,
			run:        func(tr *Tracker) { tr.End("1", Ending{At: at(20)}) },
			wantStates: []State{Dialing, Ended},
			wantReason: ReasonCancelled,
		},
		{
			name:       "explicit reason wins",
			dir:        Outbound,
			run:        func(tr *Tracker) { tr.End("1", Ending{Reason: ReasonBusy, Cause: "USER_BUSY", At: at(2)}) },
			wantStates: []State{Dialing, Ended},
			wantReason: ReasonBusy,
		},
		{
			name: "hold and unhold",
			dir:  Inbound,
			run: func(tr *Tracker) {
				tr.Answer("1", nil, at(1))
				tr.Hold("1")
				tr.Unhold("1")
				tr.End("1", Ending{At: at(11)})
			},
			wantStates:   []State{Ringing, Connected, Held, Connected, Ended},
			wantReason:   ReasonCompleted,
			wantDuration: 10,
		},
		{
			name: "hold before answer is ignored",
			dir:  Inbound,
			run: func(tr *Tracker) {
				tr.Hold("1")
				tr.End("1", Ending{At: at(3)})
			},
			wantStates: []State{Ringing, Ringing, Ended},
			wantReason: ReasonNoAnswer,
		},
		{
			name: "source duration overrides",
			dir:  Outbound,
			run: func(tr *Tracker) {
				tr.Answer("1", nil, at(3))
				tr.End("1", Ending{At: at(100), Duration: 42 * time.Second})
			},
			wantStates:   []State{Dialing, Connected, Ended},
			wantReason:   ReasonCompleted,
			wantDuration: 42,
		},
		{
			name: "events for unknown keys create nothing",
			dir:  Inbound,
			run: func(tr *Tracker) {
				tr.Answer("nope", nil, at(1))
				tr.End("nope", Ending{})
				tr.End("1", Ending{At: at(2)})
				tr.End("1", Ending{At: at(3)})
			},
			wantStates: []State{Ringing, Ended},
			wantReason: ReasonNoAnswer,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			tr := NewTracker("home", rec)
			tr.Start("1", Call{Direction: tc.dir, From: Party{Number: "0301234"}, To: Party{Number: "5551"}, Started: at(0)})
			tc.run(tr)
			var states []State
			for _, c := range rec.calls {
				states = append(states, c.State)
				if c.ID != "home:1" || c.Source != "home" {
					t.Errorf("id/source = %q/%q", c.ID, c.Source)
				}
			}
			if len(states) != len(tc.wantStates) {
				t.Fatalf("states = %v, want %v", states, tc.wantStates)
			}
			for i := range states {
				if states[i] != tc.wantStates[i] {
					t.Fatalf("states = %v, want %v", states, tc.wantStates)
				}
			}
			last := rec.last(t)
			if last.Reason != tc.wantReason || last.Duration != tc.wantDuration {
				t.Errorf("reason/duration = %s/%d, want %s/%d", last.Reason, last.Duration, tc.wantReason, tc.wantDuration)
			}
			if tr.Len() != 0 {
				t.Errorf("tracker still holds %d calls", tr.Len())
			}
		})
	}
}

func TestTrackerRetainAndEndAll(t *testing.T) {
	rec := &recorder{}
	tr := NewTracker("pbx", rec)
	for _, k := range []string{"a", "b", "c"} {
		tr.Start(k, Call{Direction: Inbound, Started: at(0)})
	}
	tr.Answer("b", nil, at(1))
	if n := tr.Retain(func(k string) bool { return k == "a" }, Ending{Reason: ReasonFailed, Cause: "gone", At: at(10)}); n != 2 {
		t.Fatalf("Retain ended %d, want 2", n)
	}
	if _, ok := tr.Get("a"); !ok {
		t.Fatal("kept call a is gone")
	}
	if n := tr.EndAll(Ending{At: at(20)}); n != 1 {
		t.Fatalf("EndAll ended %d, want 1", n)
	}
	last := rec.last(t)
	if last.ID != "pbx:a" || last.Reason != ReasonNoAnswer {
		t.Errorf("last = %s %s", last.ID, last.Reason)
	}
}

func TestTrackerPublishesCopies(t *testing.T) {
	rec := &recorder{}
	tr := NewTracker("s", rec)
	tr.Start("1", Call{Vars: map[string]string{"k": "v"}})
	tr.Ring("1", Party{Number: "1"}, Party{Number: "2"})
	tr.Update("1", func(c *Call) {
		c.Vars["k"] = "changed"
		c.Ringing[0].Number = "9"
		c.State = Ended // must not end the call behind End's back
	})
	if rec.calls[0].Vars["k"] != "v" || rec.calls[1].Ringing[0].Number != "1" {
		t.Fatal("a published call was changed afterwards")
	}
	if c, _ := tr.Get("1"); c.State == Ended {
		t.Fatal("Update ended a call")
	}
}

func TestTrackerAnswerKeepsFirstAnswerTime(t *testing.T) {
	rec := &recorder{}
	tr := NewTracker("s", rec)
	tr.Start("1", Call{Direction: Inbound, Started: at(0)})
	tr.Answer("1", &Party{Number: "201"}, at(2))
	tr.Answer("1", &Party{Number: "203"}, at(9))
	c, _ := tr.Get("1")
	if !c.Answered.Equal(at(2)) || c.AnsweredBy.Number != "203" {
		t.Fatalf("answered %v by %v", c.Answered, c.AnsweredBy)
	}
}

// TestTrackerBatch: the calls changed in a Batch are published once each
// when it ends, as it left them, in the order they first changed; the
// tracker publishes each change again after it.
func TestTrackerBatch(t *testing.T) {
	rec := &recorder{}
	tr := NewTracker("s", rec)
	tr.Start("before", Call{Direction: Inbound, Started: at(0)})
	tr.Batch(func() {
		tr.Start("b", Call{Direction: Inbound, Started: at(1)})
		tr.Start("a", Call{Direction: Inbound, Started: at(1)})
		tr.Answer("b", nil, at(2))
		tr.End("before", Ending{At: at(3)})
		tr.Start("gone", Call{Direction: Inbound, Started: at(1)})
		tr.End("gone", Ending{At: at(3)})
		if len(rec.calls) != 1 {
			t.Errorf("%d calls published during the batch, want none", len(rec.calls)-1)
		}
	})
	tr.Answer("a", nil, at(4))
	var got []string
	for _, c := range rec.calls {
		got = append(got, string(c.ID)+" "+string(c.State))
	}
	want := []string{"s:before ringing", "s:b connected", "s:a ringing", "s:before ended", "s:gone ended", "s:a connected"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("published %q, want %q", got, want)
	}
}
