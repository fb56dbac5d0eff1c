package monitor

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// QueueStats are a queue's totals since the PBX began counting (its start
// or a queue reset) and the KPIs computed from them. Asterisk reports its
// own totals (QueueParams), which replace these whenever they arrive;
// between, and for a PBX that reports none (FreeSWITCH), each call that
// ends adds to them.
type QueueStats struct {
	// ServiceLevel is the threshold T in seconds: a call answered within
	// T waited "within the service level".
	ServiceLevel int `json:"service_level"`
	// Completed counts the calls an agent answered that have ended,
	// CompletedInSL those answered within T.
	Completed     int `json:"completed"`
	CompletedInSL int `json:"completed_in_sl"`
	// Abandoned counts the callers who hung up while waiting,
	// AbandonedInSL those who did within T.
	Abandoned     int `json:"abandoned"`
	AbandonedInSL int `json:"abandoned_in_sl"`
	// HoldTotal and TalkTotal are the seconds the completed calls waited
	// and talked, summed. (Asterisk reports averages, not sums: from its
	// QueueParams the sums are its average times Completed.)
	HoldTotal int64 `json:"hold_total"`
	TalkTotal int64 `json:"talk_total"`

	// SL is ServiceLevel1 of the counts, SL2 ServiceLevel2, AbandonRate
	// AbandonRate, AvgHold and AvgTalk the averages in seconds: set by
	// WithKPIs, null while there is nothing to compute them from.
	SL          KPI `json:"sl"`
	SL2         KPI `json:"sl2"`
	AbandonRate KPI `json:"abandon_rate"`
	AvgHold     KPI `json:"avg_hold"`
	AvgTalk     KPI `json:"avg_talk"`
}

// KPI is a computed figure that may be undefined (a rate of no calls):
// its JSON is a number rounded to one decimal, or null.
type KPI struct {
	Value float64
	OK    bool
}

// Known returns the KPI v, rounded to one decimal.
func Known(v float64) KPI { return KPI{Value: math.Round(v*10) / 10, OK: true} }

// MarshalJSON implements json.Marshaler.
func (k KPI) MarshalJSON() ([]byte, error) {
	if !k.OK || math.IsNaN(k.Value) || math.IsInf(k.Value, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, k.Value, 'f', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (k *KPI) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*k = KPI{}
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*k = KPI{Value: v, OK: true}
	return nil
}

// ServiceLevel1 is Asterisk's service level: the share, in percent, of
// the completed calls that were answered within the threshold:
// completedInSL / completed. ok is false without completed calls.
func ServiceLevel1(completed, completedInSL int) (pct float64, ok bool) {
	if completed <= 0 {
		return 0, false
	}
	return 100 * float64(completedInSL) / float64(completed), true
}

// ServiceLevel2 is Asterisk's second service level, which counts
// abandoned calls too: (abandonedInSL + completedInSL) / (completed +
// abandoned), in percent, so a caller who gave up quickly does not count
// against the queue. ok is false without calls.
func ServiceLevel2(completed, completedInSL, abandoned, abandonedInSL int) (pct float64, ok bool) {
	n := completed + abandoned
	if n <= 0 {
		return 0, false
	}
	return 100 * float64(abandonedInSL+completedInSL) / float64(n), true
}

// AbandonRate is the share, in percent, of the callers who hung up while
// waiting: abandoned / (completed + abandoned). ok is false without
// calls.
func AbandonRate(completed, abandoned int) (pct float64, ok bool) {
	n := completed + abandoned
	if n <= 0 {
		return 0, false
	}
	return 100 * float64(abandoned) / float64(n), true
}

// Average is total / n; ok is false for no samples.
func Average(total int64, n int) (avg float64, ok bool) {
	if n <= 0 {
		return 0, false
	}
	return float64(total) / float64(n), true
}

// kpi makes a KPI of a computed value.
func kpi(v float64, ok bool) KPI {
	if !ok {
		return KPI{}
	}
	return Known(v)
}

// WithKPIs returns s with its KPIs computed from its counts.
func (s QueueStats) WithKPIs() QueueStats {
	s.SL = kpi(ServiceLevel1(s.Completed, s.CompletedInSL))
	s.SL2 = kpi(ServiceLevel2(s.Completed, s.CompletedInSL, s.Abandoned, s.AbandonedInSL))
	s.AbandonRate = kpi(AbandonRate(s.Completed, s.Abandoned))
	s.AvgHold = kpi(Average(s.HoldTotal, s.Completed))
	s.AvgTalk = kpi(Average(s.TalkTotal, s.Completed))
	return s
}

// within reports whether d is within a threshold of t seconds. A queue
// without a threshold (0) counts no call within it, as Asterisk does.
func within(d time.Duration, t int) bool {
	return t > 0 && d <= time.Duration(t)*time.Second
}

// Complete counts a call an agent answered after hold and that ended
// after talk.
func (s *QueueStats) Complete(hold, talk time.Duration) {
	s.Completed++
	if within(hold, s.ServiceLevel) {
		s.CompletedInSL++
	}
	s.HoldTotal += int64(max(hold, 0) / time.Second)
	s.TalkTotal += int64(max(talk, 0) / time.Second)
}

// Abandon counts a caller who hung up after waiting wait.
func (s *QueueStats) Abandon(wait time.Duration) {
	s.Abandoned++
	if within(wait, s.ServiceLevel) {
		s.AbandonedInSL++
	}
}

// FromPercent sets the counts within the threshold from a PBX's own
// service levels (Asterisk's ServicelevelPerf and ServicelevelPerf2, in
// percent) and its totals: sl of completed, sl2 of completed + abandoned.
// A negative sl2 means the PBX gave none: AbandonedInSL is kept.
func (s *QueueStats) FromPercent(sl, sl2 float64) {
	s.CompletedInSL = clampCount(math.Round(sl*float64(s.Completed)/100), s.Completed)
	if sl2 >= 0 {
		both := clampCount(math.Round(sl2*float64(s.Completed+s.Abandoned)/100), s.Completed+s.Abandoned)
		s.AbandonedInSL = clampCount(float64(both-s.CompletedInSL), s.Abandoned)
	}
}

func clampCount(v float64, hi int) int {
	switch {
	case math.IsNaN(v) || v < 0:
		return 0
	case v > float64(hi):
		return hi
	}
	return int(v)
}
