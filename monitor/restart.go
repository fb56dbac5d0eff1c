package monitor

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// CauseServerRestarted is the cause of a call that was active when the
// server stopped without ending it (a crash, kill -9, a power cut) and
// that its source, after the restart, could not show to be still up.
const CauseServerRestarted = "server restarted"

// ServerRestarted is how a Restart ends a call nobody took over: whether
// and how it ended went unseen, so it is failed rather than guessed.
var ServerRestarted = Ending{Reason: ReasonFailed, Cause: CauseServerRestarted}

// Restart hands the calls a previous run of the server had active (the
// history keeps them: see history.Store.ActiveCalls) to this run's
// sources, so that no call vanishes in a crash. It is a Sink in front of
// the hub: sources publish through it, and it forwards everything.
//
// A source whose link resyncs (AMI CoreShowChannels, ESL show channels)
// re-creates, in its first resync, the calls the PBX still has, under the
// ids they had before (those ids are the PBX's own): a Tracker publishing
// through a Restart takes such a call over as the same call, with its
// first start and answer times. On the source's first status that is
// neither connecting nor resyncing — connected after the resync, down,
// or, for a source that cannot resync (Fritz!Box, softphone accounts),
// its first status of all — the calls of that source nobody took over
// end as failed "server restarted" (ServerRestarted) and are published,
// so the history saves them. The kept calls of a source this run does
// not have end with SettleAllBut.
//
// A Restart is safe for concurrent use. Its lock is taken under a
// tracker's (tracker → restart) and never held while it publishes.
type Restart struct {
	sink Sink
	now  func() time.Time

	mu sync.Mutex
	// kept holds, by source, the calls still waiting for it.
	kept map[SourceName]map[CallID]Call
}

var _ Sink = (*Restart)(nil)

// NewRestart returns a Restart publishing to sink that keeps calls (the
// previous run's active calls; ended ones are ignored) for their sources.
func NewRestart(sink Sink, calls []Call) *Restart {
	r := &Restart{sink: sink, now: time.Now, kept: map[SourceName]map[CallID]Call{}}
	for _, c := range calls {
		if !c.Active() {
			continue
		}
		m := r.kept[c.Source]
		if m == nil {
			m = map[CallID]Call{}
			r.kept[c.Source] = m
		}
		m[c.ID] = c
	}
	return r
}

// Call forwards c.
func (r *Restart) Call(c Call) { r.sink.Call(c) }

// UserEvent forwards e.
func (r *Restart) UserEvent(e UserEvent) { r.sink.UserEvent(e) }

// SourceStatus forwards s, then, on the source's first status that is
// neither connecting nor resyncing, ends the source's kept calls that no
// tracker took over.
func (r *Restart) SourceStatus(s SourceStatus) {
	r.sink.SourceStatus(s)
	if s.State != LinkConnecting && s.State != LinkResyncing {
		r.Settle(s.Name)
	}
}

// Settle ends, as failed "server restarted", the kept calls of source
// that no tracker took over, publishes them and returns how many ended.
// Later calls of source are never taken over. It is idempotent.
func (r *Restart) Settle(source SourceName) int {
	r.mu.Lock()
	m, ok := r.kept[source]
	delete(r.kept, source)
	r.mu.Unlock()
	if !ok {
		return 0
	}
	return r.end(m)
}

// SettleAllBut settles every source but running: the sources of the
// previous run that this run does not have.
func (r *Restart) SettleAllBut(running ...SourceName) int {
	r.mu.Lock()
	var gone []SourceName
	for s := range r.kept {
		if !slices.Contains(running, s) {
			gone = append(gone, s)
		}
	}
	r.mu.Unlock()
	n := 0
	for _, s := range gone {
		n += r.Settle(s)
	}
	return n
}

// Kept returns how many calls still wait for their source.
func (r *Restart) Kept() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.kept {
		n += len(m)
	}
	return n
}

// end publishes the calls of m ended, oldest first.
func (r *Restart) end(m map[CallID]Call) int {
	calls := make([]Call, 0, len(m))
	for _, c := range m {
		calls = append(calls, c)
	}
	slices.SortFunc(calls, func(a, b Call) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	at := r.now()
	for i := range calls {
		endCall(&calls[i], ServerRestarted, at)
		r.sink.Call(calls[i])
	}
	return len(calls)
}

// adopt hands over the kept call id, once, while its source is not
// settled; a Tracker publishing through r calls it for every call it
// starts.
func (r *Restart) adopt(id CallID, source SourceName) (Call, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.kept[source]
	c, ok := m[id]
	if ok {
		delete(m, id)
	}
	return c, ok
}

// adopter is a Sink that keeps calls of an earlier run for the trackers
// publishing through it: a Restart.
type adopter interface {
	adopt(id CallID, source SourceName) (Call, bool)
}

// resume carries what was known of a call before the restart over into
// nc, the call as its source re-created it: the first start, the first
// answer and who took it, its transfers and queue. The source's view of
// the present (state, parties, ringing) stands.
func resume(nc *Call, prev Call) {
	if !prev.Started.IsZero() {
		nc.Started = prev.Started
	}
	if !prev.Answered.IsZero() && (nc.Answered.IsZero() || prev.Answered.Before(nc.Answered)) {
		nc.Answered = prev.Answered
		if nc.AnsweredBy == nil && prev.AnsweredBy != nil {
			p := *prev.AnsweredBy
			nc.AnsweredBy = &p
		}
	}
	if len(nc.Transfers) == 0 && len(prev.Transfers) > 0 {
		nc.Transfers = prev.Clone().Transfers
	}
	if nc.Queue == "" {
		nc.Queue = prev.Queue
	}
}
