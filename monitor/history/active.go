package history

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

var _ monitor.KeyAllocator = (*Store)(nil)

// startRun counts a new server run in the database and makes the key
// sequence of this run: keys "<run>.<n>", unique for ever because no two
// runs share a number.
func (s *Store) startRun(ctx context.Context) error {
	err := s.db.QueryRowContext(ctx, `INSERT INTO meta (key, value) VALUES ('run', 1)
ON CONFLICT (key) DO UPDATE SET value = meta.value + 1 RETURNING value`).Scan(&s.run)
	if err != nil {
		return fmt.Errorf("count the server run: %w", err)
	}
	s.keys = monitor.NewSequence(strconv.FormatInt(s.run, 10) + ".")
	return nil
}

// Run is the number of this server run, counted in the database at Open.
func (s *Store) Run() int64 { return s.run }

// NextKey returns a call key never handed out before for source, in this
// run or any other: "<run>.<n>", this run's number and a count per
// source. It does no I/O (the run was counted at Open), so a source's
// event loop may call it. It implements monitor.KeyAllocator.
func (s *Store) NextKey(source monitor.SourceName) string { return s.keys.NextKey(source) }

// ActiveCalls returns the calls that were active when the previous run
// ended without ending them (a crash, kill -9, a power cut, or a
// shutdown that could not save them), oldest first: the rows of
// active_calls, brought up to date with what waits in the retry spool.
// Give them to monitor.NewRestart before the sources start.
func (s *Store) ActiveCalls(ctx context.Context) ([]monitor.Call, error) {
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	type kept struct {
		at        time.Time
		call      monitor.Call
		fromSpool bool
	}
	byID := map[monitor.CallID]kept{}
	rows, err := s.db.QueryContext(ctx, `SELECT a.at, a.call FROM active_calls a
WHERE NOT EXISTS (SELECT 1 FROM calls c WHERE c.id = a.id AND c.started = a.started)`)
	if err != nil {
		return nil, fmt.Errorf("history active calls: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var at int64
		var raw []byte
		if err := rows.Scan(&at, &raw); err != nil {
			return nil, fmt.Errorf("history active calls: %w", err)
		}
		var c monitor.Call
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("history active calls decode: %w", err)
		}
		byID[c.ID] = kept{at: time.Unix(0, at), call: c}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history active calls: %w", err)
	}
	// The spool holds changes the database has not seen yet, in order.
	for _, l := range s.spool.pending() {
		ch, err := decodeChange(l)
		if err != nil {
			continue
		}
		c := ch.Call
		cur, ok := byID[c.ID]
		switch {
		case c.State == monitor.Ended:
			if ok && cur.call.Started.Equal(c.Started) {
				delete(byID, c.ID)
			}
		case !ok || !ch.At.Before(cur.at):
			byID[c.ID] = kept{at: ch.At, call: c, fromSpool: true}
		}
	}
	out := make([]monitor.Call, 0, len(byID))
	for _, k := range byID {
		if k.fromSpool {
			// A change spooled before the call's end was saved directly.
			var one int
			err := s.db.QueryRowContext(ctx, s.dialect.rebind(`SELECT COUNT(*) FROM calls WHERE id = ? AND started = ?`),
				string(k.call.ID), k.call.Started.UnixNano()).Scan(&one)
			if err != nil {
				return nil, fmt.Errorf("history active calls: %w", err)
			}
			if one > 0 {
				continue
			}
		}
		out = append(out, k.call)
	}
	slices.SortFunc(out, func(a, b monitor.Call) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}
