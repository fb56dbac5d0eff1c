package monitor

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// OutboxConfig tunes an Outbox. The zero value is usable.
type OutboxConfig struct {
	// Name names the outbox in errors ("history", a webhook URL).
	Name string
	// Size is how many events may wait. Default 1024.
	Size int
	// ReportSize is how many unhandled events may wait to be reported.
	// Default Size, at least 256.
	ReportSize int
}

// OutboxStats are an outbox's running totals, for metrics and /healthz.
type OutboxStats struct {
	// Queued is how many events wait, not counting the one in hand.
	Queued int
	// Size is the queue's capacity.
	Size int
	// Behind is the age (since its At) of the event being handled now;
	// zero while the worker is idle.
	Behind time.Duration
	// Handled counts events the handler took without an error.
	Handled uint64
	// Failed counts events the handler returned an error for (other than
	// one it returned because Close ran out of time).
	Failed uint64
	// Overflow counts events refused because the queue was full.
	Overflow uint64
	// Abandoned counts events offered after Close, or still queued or in
	// hand when Close's ctx ended.
	Abandoned uint64
	// Unreported counts unhandled events that never reached the unhandled
	// function because its own queue was full too (they are counted above
	// all the same).
	Unreported uint64
}

// Outbox is a durable consumer's own bounded queue and the one worker
// goroutine that hands its events, in order, to the consumer's handler, so
// that the consumer's I/O (a disk, an HTTP endpoint) never runs in the
// publishing path. Offer never blocks and does no I/O. An event that
// cannot be queued, or that the handler fails, goes to the outbox's
// unhandled function (see WithUnhandled), which runs in a second goroutine
// of the outbox's, so that logging or spooling it never runs in the
// publishing path either.
//
// NewOutbox starts both goroutines; its owner stops them with Close, which
// drains the queue first.
//
// Lock order: mu, then progress; neither is held while the handler or the
// unhandled function runs.
type Outbox struct {
	name      string
	handle    func(ctx context.Context, ev Event) error
	unhandled func(ev Event, err error)

	// mu guards closed and lostClosed against sends on closed channels:
	// Offer holds it for reading, Close for writing.
	mu         sync.RWMutex
	closed     bool
	lostClosed bool
	queue      chan Event
	lost       chan lostEvent

	accepted                                         atomic.Uint64
	handled, failed, overflow, abandoned, unreported atomic.Uint64
	// busy is the At of the event in hand, Unix ns; 0 when idle.
	busy atomic.Int64

	cancel    context.CancelFunc
	exited    chan struct{} // closed when the worker returns
	reported  chan struct{} // closed when the reporter returns
	closeOnce sync.Once
	lostOnce  sync.Once

	progress sync.Mutex // guards finished and waiters
	finished uint64
	waiters  []flushWaiter
}

// lostEvent is an event on its way to the unhandled function.
type lostEvent struct {
	ev  Event
	err error
}

// flushWaiter is a Flush waiting for the worker to have finished upto
// events.
type flushWaiter struct {
	upto uint64
	done chan struct{}
}

// OutboxOption sets a rare knob of an Outbox.
type OutboxOption func(*Outbox)

// WithUnhandled sets fn, called once, in the outbox's reporting
// goroutine, for every event the outbox will not hand over or the handler
// failed: err is ErrOutboxFull (the queue was full), wraps ErrOutboxClosed
// (offered after Close, or still queued or in hand when Close's ctx
// ended), or is the handler's error. fn may take its time (a log line, a
// spool file) but holds up the reports behind it. Default: nothing (the
// totals still count every such event).
func WithUnhandled(fn func(ev Event, err error)) OutboxOption {
	return func(o *Outbox) { o.unhandled = fn }
}

// NewOutbox returns a running outbox handing events to handle. handle runs
// in the outbox's worker goroutine, one event at a time, and must return
// when ctx ends (Close's ctx ran out).
func NewOutbox(cfg OutboxConfig, handle func(ctx context.Context, ev Event) error, opts ...OutboxOption) *Outbox {
	if cfg.Size <= 0 {
		cfg.Size = 1024
	}
	if cfg.ReportSize <= 0 {
		cfg.ReportSize = max(cfg.Size, 256)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &Outbox{
		name:      cfg.Name,
		handle:    handle,
		unhandled: func(Event, error) {},
		queue:     make(chan Event, cfg.Size),
		lost:      make(chan lostEvent, cfg.ReportSize),
		cancel:    cancel,
		exited:    make(chan struct{}),
		reported:  make(chan struct{}),
	}
	for _, opt := range opts {
		opt(o)
	}
	go o.run(ctx)
	go o.report()
	return o
}

// Offer queues ev and reports whether it fit. It never blocks: a full
// queue or a closed outbox counts ev and passes it on to be reported.
func (o *Outbox) Offer(ev Event) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.closed {
		o.abandoned.Add(1)
		o.lose(ev, ErrOutboxClosed)
		return false
	}
	select {
	case o.queue <- ev:
		o.accepted.Add(1)
		return true
	default:
		o.overflow.Add(1)
		// The bare sentinel: an overflow costs no allocation.
		o.lose(ev, ErrOutboxFull)
		return false
	}
}

// lose hands ev to the reporter without waiting, or counts it unreported;
// o.mu held (read) on entry.
func (o *Outbox) lose(ev Event, err error) {
	if o.lostClosed {
		o.unreported.Add(1)
		return
	}
	select {
	case o.lost <- lostEvent{ev, err}:
	default:
		o.unreported.Add(1)
	}
}

func (o *Outbox) run(ctx context.Context) {
	defer close(o.exited)
	for ev := range o.queue {
		if ctx.Err() != nil {
			// Close ran out of time: what is left is not handed over.
			o.abandoned.Add(1)
			o.lost <- lostEvent{ev, fmt.Errorf("outbox %s: %w: %w", o.name, ErrOutboxClosed, ctx.Err())}
			o.finish()
			continue
		}
		at := ev.At
		if at.IsZero() {
			at = time.Now()
		}
		o.busy.Store(at.UnixNano())
		err := o.handle(ctx, ev)
		o.busy.Store(0)
		switch {
		case err == nil:
			o.handled.Add(1)
		case ctx.Err() != nil:
			// The handler gave up because Close ran out of time.
			o.abandoned.Add(1)
			o.lost <- lostEvent{ev, fmt.Errorf("outbox %s: %w: %w", o.name, ErrOutboxClosed, err)}
		default:
			o.failed.Add(1)
			// The worker may wait for the reporter: it is off the
			// publishing path, and a failure is never dropped unreported.
			o.lost <- lostEvent{ev, err}
		}
		o.finish()
	}
}

func (o *Outbox) report() {
	defer close(o.reported)
	for l := range o.lost {
		o.unhandled(l.ev, l.err)
	}
}

// finish counts one event done and wakes the flushes it completes.
func (o *Outbox) finish() {
	o.progress.Lock()
	defer o.progress.Unlock()
	o.finished++
	kept := o.waiters[:0]
	for _, w := range o.waiters {
		if o.finished >= w.upto {
			close(w.done)
		} else {
			kept = append(kept, w)
		}
	}
	o.waiters = kept
}

// Flush waits until every event queued before the call has been handed
// over (or given up), or ctx ends.
func (o *Outbox) Flush(ctx context.Context) error {
	upto := o.accepted.Load()
	o.progress.Lock()
	if o.finished >= upto {
		o.progress.Unlock()
		return nil
	}
	w := flushWaiter{upto: upto, done: make(chan struct{})}
	o.waiters = append(o.waiters, w)
	o.progress.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("outbox %s flush: %w", o.name, ctx.Err())
	}
}

// Close stops taking events, lets the worker hand over what is queued and
// waits for it and for the reports. When ctx ends first, the handler's
// ctx is cancelled, what is still queued is reported unhandled, and Close
// returns ctx's error once both goroutines are gone. Close is idempotent.
func (o *Outbox) Close(ctx context.Context) error {
	o.closeOnce.Do(func() {
		o.mu.Lock()
		o.closed = true
		close(o.queue)
		o.mu.Unlock()
	})
	var err error
	select {
	case <-o.exited:
	case <-ctx.Done():
		o.cancel()
		<-o.exited
		err = fmt.Errorf("outbox %s close: %w", o.name, ctx.Err())
	}
	o.cancel()
	// The worker is gone, so only Offer could still report, and it sees
	// lostClosed.
	o.lostOnce.Do(func() {
		o.mu.Lock()
		o.lostClosed = true
		close(o.lost)
		o.mu.Unlock()
	})
	<-o.reported
	return err
}

// Stats returns the outbox's running totals.
func (o *Outbox) Stats() OutboxStats {
	st := OutboxStats{
		Queued:     len(o.queue),
		Size:       cap(o.queue),
		Handled:    o.handled.Load(),
		Failed:     o.failed.Load(),
		Overflow:   o.overflow.Load(),
		Abandoned:  o.abandoned.Load(),
		Unreported: o.unreported.Load(),
	}
	if b := o.busy.Load(); b != 0 {
		st.Behind = max(time.Since(time.Unix(0, b)), 0)
	}
	return st
}
