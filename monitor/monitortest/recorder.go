package monitortest

import (
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// WaitTimeout bounds every Recorder.WaitFor: a test that waits longer is
// stuck, not slow.
const WaitTimeout = 10 * time.Second

// Recorder is a monitor.Sink that keeps everything it is given, in order,
// and wakes WaitFor on each change. It is safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	calls    []monitor.Call
	statuses []monitor.SourceStatus
	users    []monitor.UserEvent
	exts     []monitor.Extension
	queues   []monitor.Queue
	changed  chan struct{} // closed and replaced on every change
}

var (
	_ monitor.Sink      = (*Recorder)(nil)
	_ monitor.Publisher = (*Recorder)(nil)
)

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{changed: make(chan struct{})} }

// Call records a call change.
func (r *Recorder) Call(c monitor.Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
	r.notifyLocked()
}

// SourceStatus records a status change.
func (r *Recorder) SourceStatus(s monitor.SourceStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses = append(r.statuses, s)
	r.notifyLocked()
}

// UserEvent records a user event.
func (r *Recorder) UserEvent(e monitor.UserEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.users = append(r.users, e)
	r.notifyLocked()
}

// Publish records an extension or queue change; other kinds are
// refused as the hub refuses a kind it does not know.
func (r *Recorder) Publish(p monitor.Payload) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch v := p.(type) {
	case *monitor.Extension:
		r.exts = append(r.exts, v.Clone())
	case *monitor.Queue:
		r.queues = append(r.queues, v.Clone())
	default:
		return monitor.ErrUnknownKind
	}
	r.notifyLocked()
	return nil
}

// Extensions returns every extension change so far.
func (r *Recorder) Extensions() []monitor.Extension {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]monitor.Extension(nil), r.exts...)
}

// Queues returns every queue change so far.
func (r *Recorder) Queues() []monitor.Queue {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]monitor.Queue(nil), r.queues...)
}

// Extension returns the latest state of extension id, and whether it was
// seen and is not removed.
func (r *Recorder) Extension(id monitor.ExtensionID) (monitor.Extension, bool) {
	var last monitor.Extension
	seen := false
	for _, e := range r.Extensions() {
		if e.ID == id {
			last, seen = e, true
		}
	}
	return last, seen && !last.Removed
}

// Queue returns the latest state of queue id, and whether it was seen
// and is not removed.
func (r *Recorder) Queue(id monitor.QueueID) (monitor.Queue, bool) {
	var last monitor.Queue
	seen := false
	for _, q := range r.Queues() {
		if q.ID == id {
			last, seen = q, true
		}
	}
	return last, seen && !last.Removed
}

// notifyLocked wakes waiters; r.mu held on entry.
func (r *Recorder) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Calls returns every call change so far.
func (r *Recorder) Calls() []monitor.Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]monitor.Call(nil), r.calls...)
}

// Statuses returns every status so far.
func (r *Recorder) Statuses() []monitor.SourceStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]monitor.SourceStatus(nil), r.statuses...)
}

// Users returns every user event so far.
func (r *Recorder) Users() []monitor.UserEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]monitor.UserEvent(nil), r.users...)
}

// Ended returns the calls that ended, in order.
func (r *Recorder) Ended() []monitor.Call {
	var out []monitor.Call
	for _, c := range r.Calls() {
		if c.State == monitor.Ended {
			out = append(out, c)
		}
	}
	return out
}

// Active returns the calls whose latest change is not their end.
func (r *Recorder) Active() map[monitor.CallID]monitor.Call {
	m := map[monitor.CallID]monitor.Call{}
	for _, c := range r.Calls() {
		if c.State == monitor.Ended {
			delete(m, c.ID)
		} else {
			m[c.ID] = c
		}
	}
	return m
}

// States returns the states call id went through, repeats folded.
func (r *Recorder) States(id monitor.CallID) []monitor.State {
	var out []monitor.State
	for _, c := range r.Calls() {
		if c.ID == id && (len(out) == 0 || out[len(out)-1] != c.State) {
			out = append(out, c.State)
		}
	}
	return out
}

// LinkStates returns the states of every status so far.
func (r *Recorder) LinkStates() []monitor.LinkState {
	var out []monitor.LinkState
	for _, s := range r.Statuses() {
		out = append(out, s.State)
	}
	return out
}

// LastStatus returns the newest status, or the zero status.
func (r *Recorder) LastStatus() monitor.SourceStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.statuses) == 0 {
		return monitor.SourceStatus{}
	}
	return r.statuses[len(r.statuses)-1]
}

// CountStatus returns how many statuses were in state st.
func (r *Recorder) CountStatus(st monitor.LinkState) int {
	n := 0
	for _, s := range r.Statuses() {
		if s.State == st {
			n++
		}
	}
	return n
}

// WaitFor waits until cond holds, checking it again after every change,
// and fails the test after WaitTimeout. cond runs without the recorder's
// lock, so it may call the recorder. Call it from the test's goroutine.
func (r *Recorder) WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	timeout := time.NewTimer(WaitTimeout)
	defer timeout.Stop()
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-timeout.C:
			tb.Fatalf("timed out waiting for %s; statuses %v", what, r.LinkStates())
		}
	}
}
