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
	// Number matches a substring of either party's number.
	Number string
	// Source selects one source; empty means all.
	Source monitor.SourceName
	// Outcome selects missed (never answered) or answered calls.
	Outcome Outcome
	// Since and Until bound the start time; zero means unbounded.
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
