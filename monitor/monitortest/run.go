package monitortest

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Running is a source's Run on a goroutine of its own, owned by the
// test: stopped, and waited for, when the test ends if not before.
type Running struct {
	cancel context.CancelFunc
	done   chan error

	once sync.Once
	err  error
	ok   bool // Run returned within WaitTimeout
}

// Start calls run on a new goroutine with a context Stop cancels.
func Start(tb testing.TB, run func(ctx context.Context) error) *Running {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- run(ctx) }()
	tb.Cleanup(func() {
		if ok, err := r.wait(); !ok {
			tb.Error("Run did not return after cancel")
		} else if err != nil {
			tb.Errorf("Run returned %v, want nil", err)
		}
	})
	return r
}

// Stop cancels Run and waits for it, failing the test unless it returns
// nil within WaitTimeout. Call it from the test's goroutine.
func (r *Running) Stop(tb testing.TB) {
	tb.Helper()
	ok, err := r.wait()
	if !ok {
		tb.Fatal("Run did not return after cancel")
	}
	if err != nil {
		tb.Errorf("Run returned %v, want nil", err)
	}
}

// wait cancels Run once and returns what it returned.
func (r *Running) wait() (bool, error) {
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
			r.ok = true
		case <-time.After(WaitTimeout):
		}
	})
	return r.ok, r.err
}
