package history

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// drainBatch is how many spooled changes one transaction writes: a
// spool left by a long outage is written in a few seconds, not one fsync
// per change.
const drainBatch = 256

// failed notes that a write failed: the database is down until the retry
// loop has written to it again.
func (s *Store) failed(err error) {
	s.errMu.Lock()
	s.lastErr = err
	s.errMu.Unlock()
	s.down.Store(true)
	s.wake()
}

// wake asks the retry loop to look at the spool (and the database).
func (s *Store) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// retryLoop is the store's goroutine that writes the spool to the
// database: woken when a change is spooled or a write failed, it tries
// after the backoff of the attempts that failed before (the first at
// once), doubling from retryMin to retryMax, until the spool is written
// and the database took a write. It returns when ctx ends (Close).
func (s *Store) retryLoop(ctx context.Context) {
	defer close(s.retried)
	failures := 0
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	arm := func(d time.Duration) {
		timer.Reset(d)
		armed = true
	}
	defer timer.Stop()
	// A database server is checked while there is nothing to write; a
	// file is found unwritable by the next write, as nothing can reach it
	// meanwhile.
	var pings <-chan time.Time
	if s.dialect.driver == Postgres {
		t := time.NewTicker(pingEvery)
		defer t.Stop()
		pings = t.C
	}
	for {
		var fire <-chan time.Time
		if armed {
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-pings:
			s.ping(ctx)
			continue
		case <-s.kick:
			if !armed {
				arm(s.backoff(failures))
			}
			continue
		case <-fire:
			armed = false
		}
		if err := s.drain(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			wait := s.backoff(failures)
			s.log.Debug("history: the database still cannot be written", "error", err, "retry", wait)
			arm(wait)
			continue
		}
		failures = 0
		if n, _, _ := s.spool.stats(); n > 0 || s.down.Load() {
			// Changes came in while it drained.
			arm(0)
		}
	}
}

// backoff is the wait before attempt n+1 after n failures; 0 for the
// first.
func (s *Store) backoff(failures int) time.Duration {
	if failures == 0 {
		return 0
	}
	return monitor.Backoff(s.retryMin, s.retryMax, failures-1)
}

// drain writes the spooled changes to the database, oldest first, in
// batches, dropping each batch from the spool once it is committed. With
// nothing spooled it writes a probe, so a database that failed is known
// to work again. When the spool is empty after it and the database took
// the writes, the database is up again.
func (s *Store) drain(ctx context.Context) error {
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	lines := s.spool.pending()
	saved := 0
	if len(lines) == 0 && s.down.Load() {
		if err := s.probe(ctx); err != nil {
			s.failed(err)
			return err
		}
	}
	for len(lines) > 0 {
		n := min(len(lines), drainBatch)
		chs := make([]change, 0, n)
		for _, l := range lines[:n] {
			// Every line was read or written by this program; one that
			// does not decode cannot be saved, and is counted lost.
			ch, err := decodeChange(l)
			if err != nil {
				s.lostError.Add(1)
				s.log.Error("history: spooled change unreadable, dropped", "error", err)
				continue
			}
			chs = append(chs, ch)
		}
		wctx, cancel := context.WithTimeout(ctx, s.saveTimeout)
		err := s.write(wctx, chs)
		cancel()
		if err != nil {
			s.failed(err)
			return fmt.Errorf("history spool: %w", err)
		}
		if _, err := s.spool.done(n); err != nil {
			// The changes are saved; the spool keeps them until it can be
			// cut, and they are saved once more then: one row each.
			s.failed(err)
			return fmt.Errorf("history spool: %w", err)
		}
		s.spoolSaved.Add(uint64(len(chs)))
		saved += len(chs)
		lines = lines[n:]
	}
	if left, _, _ := s.spool.stats(); left == 0 {
		// A change spooled after this check wakes the loop again.
		if wasDown := s.down.Swap(false); wasDown || saved > 0 {
			s.log.Info("history: the database can be written again; spooled calls saved", "changes", saved)
		}
	}
	return nil
}

// probe writes to the database without changing anything a reader sees.
func (s *Store) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.saveTimeout)
	defer cancel()
	if s.hook != nil {
		if err := s.hook(ctx, nil); err != nil {
			return err
		}
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('probe', 1)
ON CONFLICT (key) DO UPDATE SET value = meta.value + 1`)
	return err
}

// lastError is the last write error, nil once the database is up.
func (s *Store) lastError() error {
	if !s.down.Load() {
		return nil
	}
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.lastErr == nil {
		return errors.New("unknown error")
	}
	return s.lastErr
}
