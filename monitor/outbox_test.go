package monitor

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// gate is a handler that reports each event it starts and then waits
// until it is released (or its ctx ends).
type gate struct {
	started chan uint64
	release chan struct{}

	mu   sync.Mutex
	seen []uint64
}

func newGate() *gate {
	return &gate{started: make(chan uint64, 100), release: make(chan struct{})}
}

func (g *gate) handle(ctx context.Context, ev Event) error {
	g.started <- ev.Seq
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	g.seen = append(g.seen, ev.Seq)
	g.mu.Unlock()
	return nil
}

func (g *gate) handled() []uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]uint64(nil), g.seen...)
}

// unhandledLog keeps what an outbox gave up on.
type unhandledLog struct {
	mu   sync.Mutex
	seqs []uint64
	errs []error
}

func (u *unhandledLog) add(ev Event, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seqs = append(u.seqs, ev.Seq)
	u.errs = append(u.errs, err)
}

func (u *unhandledLog) get() ([]uint64, []error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]uint64(nil), u.seqs...), append([]error(nil), u.errs...)
}

func ev(seq uint64) Event {
	c := call("s:1", Ended)
	return NewEvent(seq, t0, &c)
}

func TestOutboxHandsOverInOrderAndFlushes(t *testing.T) {
	var mu sync.Mutex
	var got []uint64
	o := NewOutbox(OutboxConfig{Name: "t", Size: 200}, func(_ context.Context, e Event) error {
		mu.Lock()
		got = append(got, e.Seq)
		mu.Unlock()
		return nil
	})
	defer o.Close(context.Background())
	for i := uint64(1); i <= 150; i++ {
		if !o.Offer(ev(i)) {
			t.Fatalf("offer %d refused", i)
		}
	}
	if err := o.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n, first, last := len(got), got[0], got[len(got)-1]
	mu.Unlock()
	if n != 150 || first != 1 || last != 150 {
		t.Fatalf("handled %d events, %d..%d", n, first, last)
	}
	if st := o.Stats(); st.Handled != 150 || st.Queued != 0 || st.Behind != 0 || st.Size != 200 {
		t.Fatalf("stats %+v", st)
	}
	if err := o.Flush(context.Background()); err != nil {
		t.Fatalf("flush of an empty outbox: %v", err)
	}
}

func TestOutboxOfferNeverBlocksAndCountsOverflow(t *testing.T) {
	g := newGate()
	var lost unhandledLog
	o := NewOutbox(OutboxConfig{Name: "t", Size: 2}, g.handle, WithUnhandled(lost.add))
	defer o.Close(context.Background())

	// The first event is in the handler's hands, an hour old; two more
	// fill the queue; every other one overflows, and Offer returns each
	// time even though the handler is stuck.
	old := ev(1)
	old.At = time.Now().Add(-time.Hour)
	o.Offer(old)
	<-g.started
	for i := uint64(2); i <= 10; i++ {
		o.Offer(ev(i))
	}
	st := o.Stats()
	if st.Queued != 2 || st.Overflow != 7 || st.Behind < time.Hour {
		t.Fatalf("stats %+v, want 2 queued, 7 overflowed, an hour behind", st)
	}
	close(g.release)
	if err := o.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := g.handled(); len(h) != 3 || h[0] != 1 || h[2] != 3 {
		t.Fatalf("handled %v, want 1 2 3", h)
	}
	// Close waits for the reports, which run in their own goroutine.
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	seqs, errs := lost.get()
	if len(seqs) != 7 || seqs[0] != 4 || seqs[6] != 10 {
		t.Fatalf("unhandled %v", seqs)
	}
	for _, err := range errs {
		if !errors.Is(err, ErrOutboxFull) {
			t.Fatalf("unhandled with %v, want ErrOutboxFull", err)
		}
	}
}

// TestOutboxReportsOffThePublishingPath blocks the unhandled function:
// Offer still returns at once, and what does not fit in the report queue
// is counted as unreported.
func TestOutboxReportsOffThePublishingPath(t *testing.T) {
	g := newGate()
	reporting := make(chan struct{})
	stuck := make(chan struct{})
	var once sync.Once
	o := NewOutbox(OutboxConfig{Size: 1, ReportSize: 1}, g.handle, WithUnhandled(func(Event, error) {
		once.Do(func() { close(reporting) })
		<-stuck
	}))
	o.Offer(ev(1))
	<-g.started
	o.Offer(ev(2)) // queued
	o.Offer(ev(3)) // overflows; the reporter takes it and is stuck
	<-reporting
	o.Offer(ev(4)) // overflows; waits in the report queue
	o.Offer(ev(5)) // overflows; no room to report it
	if st := o.Stats(); st.Overflow != 3 || st.Unreported != 1 {
		t.Fatalf("stats %+v, want 3 overflowed, 1 unreported", st)
	}
	close(stuck)
	close(g.release)
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := g.handled(); len(h) != 2 {
		t.Fatalf("handled %v", h)
	}
}

func TestOutboxFlushBoundedByCtx(t *testing.T) {
	g := newGate()
	o := NewOutbox(OutboxConfig{}, g.handle)
	defer func() {
		close(g.release)
		o.Close(context.Background())
	}()
	o.Offer(ev(1))
	<-g.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Flush(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("flush with a stuck handler = %v, want the ctx's error", err)
	}
}

func TestOutboxCloseDrainsThenGivesUp(t *testing.T) {
	t.Run("drains", func(t *testing.T) {
		g := newGate()
		close(g.release)
		o := NewOutbox(OutboxConfig{}, g.handle)
		for i := uint64(1); i <= 5; i++ {
			o.Offer(ev(i))
		}
		if err := o.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if h := g.handled(); len(h) != 5 {
			t.Fatalf("handled %v before Close returned", h)
		}
		if err := o.Close(context.Background()); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
	t.Run("gives up when ctx ends", func(t *testing.T) {
		g := newGate()
		var lost unhandledLog
		o := NewOutbox(OutboxConfig{}, g.handle, WithUnhandled(lost.add))
		for i := uint64(1); i <= 4; i++ {
			o.Offer(ev(i))
		}
		<-g.started
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := o.Close(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Close = %v, want the ctx's error", err)
		}
		if o.Offer(ev(5)) {
			t.Fatal("offer after Close accepted")
		}
		seqs, errs := lost.get()
		// 1 was in hand (its handler saw ctx end), 2..4 were left queued;
		// 5 came after Close, when nothing reports any more: it is only
		// counted.
		if len(seqs) != 4 || !errors.Is(errs[0], context.Canceled) {
			t.Fatalf("unhandled %v %v", seqs, errs)
		}
		for _, err := range errs {
			if !errors.Is(err, ErrOutboxClosed) {
				t.Fatalf("unhandled with %v, want ErrOutboxClosed", err)
			}
		}
		if st := o.Stats(); st.Failed != 0 || st.Abandoned != 5 || st.Unreported != 1 || st.Handled != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestOutboxHandlerErrorIsUnhandled(t *testing.T) {
	bad := errors.New("disk full")
	var lost unhandledLog
	o := NewOutbox(OutboxConfig{}, func(context.Context, Event) error { return bad }, WithUnhandled(lost.add))
	o.Offer(ev(7))
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if seqs, errs := lost.get(); len(seqs) != 1 || seqs[0] != 7 || !errors.Is(errs[0], bad) {
		t.Fatalf("unhandled %v %v", seqs, errs)
	}
	if st := o.Stats(); st.Failed != 1 {
		t.Fatalf("stats %+v", st)
	}
}
