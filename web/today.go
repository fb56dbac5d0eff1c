package web

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// displayZone is the time zone the wallboard's day ("today"), its hours
// and its times are in: the configured display zone (timezone:).
func (s *Server) displayZone() *time.Location { return s.loc }

// dayHistory is a History that can walk the calls of a day; the
// wallboard's figures need it (*history.Store is one).
type dayHistory interface {
	CallsBetween(ctx context.Context, from, to time.Time, fn func(monitor.Call) error) error
}

// Figures are the wallboard's figures of one day, for one source or all.
// Times are whole seconds. Every call counts under the day it started.
type Figures struct {
	// Source is empty for the total.
	Source string `json:"source,omitempty"`
	// Calls counts every ended call, of every direction.
	Calls    int `json:"calls"`
	Inbound  int `json:"inbound"`
	Outbound int `json:"outbound"`
	Internal int `json:"internal"`
	// Answered counts the inbound calls someone took.
	Answered int `json:"answered"`
	// Missed counts the inbound calls nobody took (monitor.Call.Missed),
	// except those answered elsewhere (another phone of the site took
	// them).
	Missed int `json:"missed"`
	// AnswerRate is the percentage of Answered in Answered+Missed,
	// rounded down (99 % is not 100 %); nil without either.
	AnswerRate *int `json:"answer_rate"`
	// AvgWait is the mean time from the first ring to the answer of the
	// answered inbound calls.
	AvgWait int64 `json:"avg_wait"`
	// AvgTalk is the mean talk time of the answered calls, every direction.
	AvgTalk int64 `json:"avg_talk"`
	// LongestWait is the longest an inbound caller waited: to the answer,
	// or until they gave up.
	LongestWait int64 `json:"longest_wait"`

	waitSum, talkSum time.Duration
	talked           int
}

// HourCount is the calls of one hour of the day, in the display zone.
type HourCount struct {
	Hour   int `json:"hour"`
	Calls  int `json:"calls"`
	Missed int `json:"missed"`
}

// Today is GET /api/today: the figures of the day so far (in total, per
// source by name, per hour), and the day's newest calls, newest first.
type Today struct {
	Now time.Time `json:"now"`
	// Date is the day, YYYY-MM-DD in the display zone.
	Date string `json:"date"`
	// Figures says the figures could be computed; without a history
	// (or while it cannot be read) they are zero and Error says why.
	Figures bool        `json:"figures"`
	Error   string      `json:"error,omitempty"`
	Total   Figures     `json:"total"`
	Sources []Figures   `json:"sources"`
	Hours   []HourCount `json:"hours"`
	// Recent are the day's newest calls, newest first, at most Limit.
	Recent []monitor.Call `json:"recent"`
	Limit  int            `json:"limit"`
}

// add counts c.
func (f *Figures) add(c monitor.Call) {
	f.Calls++
	answered := !c.Answered.IsZero()
	switch c.Direction {
	case monitor.Inbound:
		f.Inbound++
		wait := c.Ended.Sub(c.Started)
		switch {
		case answered:
			f.Answered++
			wait = c.Answered.Sub(c.Started)
			f.waitSum += max(wait, 0)
		case c.Missed() && c.Reason != monitor.ReasonAnsweredElsewhere:
			f.Missed++
		}
		f.LongestWait = max(f.LongestWait, seconds(wait))
	case monitor.Outbound:
		f.Outbound++
	case monitor.Internal:
		f.Internal++
	}
	if answered {
		f.talked++
		f.talkSum += time.Duration(c.Duration) * time.Second
	}
}

// finish computes the means and the rate.
func (f *Figures) finish() {
	if f.Answered > 0 {
		f.AvgWait = seconds(f.waitSum / time.Duration(f.Answered))
	}
	if f.talked > 0 {
		f.AvgTalk = seconds(f.talkSum / time.Duration(f.talked))
	}
	if n := f.Answered + f.Missed; n > 0 {
		r := f.Answered * 100 / n
		f.AnswerRate = &r
	}
}

// seconds rounds d to whole seconds, never below zero.
func seconds(d time.Duration) int64 {
	if d < 0 {
		return 0
	}
	return int64(d.Round(time.Second) / time.Second)
}

// dayBounds is the day of now in loc: its midnight and the next one
// (23 or 25 hours later when the clocks change).
func dayBounds(now time.Time, loc *time.Location) (from, to time.Time) {
	now = now.In(loc)
	y, m, d := now.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc), time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// today computes the figures of the day of now from the history.
func (s *Server) today(ctx context.Context, now time.Time) Today {
	loc := s.displayZone()
	from, to := dayBounds(now, loc)
	t := Today{Now: now, Date: from.Format(time.DateOnly), Sources: []Figures{}, Hours: make([]HourCount, 24), Recent: []monitor.Call{}, Limit: recentLimit}
	for h := range t.Hours {
		t.Hours[h].Hour = h
	}
	dh, ok := s.deps.History.(dayHistory)
	if !ok {
		if s.deps.History != nil {
			recent, err := s.deps.History.Recent(ctx, from, recentLimit)
			if err != nil {
				s.log.Error("load today's calls", "err", err)
				t.Error = T(ctx, "today.error.calls")
			}
			t.Recent = append(t.Recent, recent...)
		} else {
			t.Error = T(ctx, "today.error.no_history")
		}
		return t
	}
	per := map[monitor.SourceName]*Figures{}
	var ring []monitor.Call // the newest recentLimit calls, oldest first
	err := dh.CallsBetween(ctx, from, to, func(c monitor.Call) error {
		t.Total.add(c)
		f := per[c.Source]
		if f == nil {
			f = &Figures{Source: string(c.Source)}
			per[c.Source] = f
		}
		f.add(c)
		hc := &t.Hours[c.Started.In(loc).Hour()]
		hc.Calls++
		if c.Missed() && c.Reason != monitor.ReasonAnsweredElsewhere {
			hc.Missed++
		}
		if len(ring) == recentLimit {
			ring = append(ring[:0], ring[1:]...)
		}
		ring = append(ring, c)
		return nil
	})
	if err != nil {
		s.log.Error("compute today's figures", "err", err)
		t.Error = T(ctx, "today.error.figures")
		return t
	}
	t.Figures = true
	t.Total.finish()
	for _, f := range per {
		f.finish()
		t.Sources = append(t.Sources, *f)
	}
	slices.SortFunc(t.Sources, func(a, b Figures) int {
		switch {
		case a.Source < b.Source:
			return -1
		case a.Source > b.Source:
			return 1
		}
		return 0
	})
	for i := len(ring) - 1; i >= 0; i-- {
		t.Recent = append(t.Recent, ring[i])
	}
	return t
}

// apiToday answers GET /api/today. The wallboard asks for it when it
// starts, after every call that ends and every minute (which also tells
// it the server is still there and renews a wall screen's cookie).
func (s *Server) apiToday(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.today(r.Context(), s.now()))
	return nil
}
