package history

import (
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// Outcome selects calls by whether they were answered.
type Outcome string

// Outcomes.
const (
	OutcomeAny      Outcome = ""
	OutcomeMissed   Outcome = "missed"
	OutcomeAnswered Outcome = "answered"
)

// Filter selects calls from the history. The zero value selects every call,
// newest first, in pages of DefaultLimit.
type Filter struct {
	// Number selects calls by either party's number, however either is
	// written: a search written from a number's start (+49 170 123,
	// 0049 170 123, 0170 123, in the store's default country) matches the
	// numbers that start so, whether they were stored as +49170…,
	// 0170… or 0049170…; bare digits (1234567) match anywhere in a
	// number; anything else (letters, a SIP address) matches a part of
	// the number as stored.
	Number string
	// Source selects one source; empty means all.
	Source monitor.SourceName
	// Outcome selects missed (never answered) or answered calls.
	Outcome Outcome
	// Since and Until bound the start time: Since <= started < Until;
	// zero means unbounded.
	Since, Until time.Time
	// Limit is the page size; 0 means DefaultLimit, capped at MaxLimit.
	Limit int
	// Offset skips that many calls.
	Offset int
}

// Page size bounds.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Page is one page of calls and the number of calls the filter selects.
type Page struct {
	Calls []monitor.Call
	Total int
}
