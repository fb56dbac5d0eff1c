package monitor

import (
	"log/slog"
	"sync"
	"time"
)

// ParseErrorInterval is how often a ParseErrorLog logs at Info.
const ParseErrorInterval = time.Minute

// ParseErrorLog counts a source's malformed input (a line, frame or event
// it skipped) in Counters.ParseErrors and logs it: at Info at most once
// per ParseErrorInterval, saying how many went unlogged meanwhile, and
// every one at Debug. A peer that sends garbage on every line cannot
// flood the log, and /metrics still counts each one. It is safe for
// concurrent use.
type ParseErrorLog struct {
	counters *Counters
	log      *slog.Logger

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// NewParseErrorLog returns a log counting into c (nil: private counters)
// and logging to log (nil: discard).
func NewParseErrorLog(c *Counters, log *slog.Logger) *ParseErrorLog {
	if c == nil {
		c = new(Counters)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ParseErrorLog{counters: c, log: log}
}

// Note counts err and logs it as the rate allows.
func (p *ParseErrorLog) Note(err error) {
	p.counters.ParseErrors.Add(1)
	now := time.Now()
	p.mu.Lock()
	if !p.last.IsZero() && now.Sub(p.last) < ParseErrorInterval {
		p.suppressed++
		p.mu.Unlock()
		p.log.Debug("malformed input skipped", "error", err)
		return
	}
	n := p.suppressed
	p.last, p.suppressed = now, 0
	p.mu.Unlock()
	p.log.Info("malformed input skipped", "error", err, "unlogged_since_last", n)
}
