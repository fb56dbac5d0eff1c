package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// betweenFlushWait bounds how long CallsBetween waits for the queue.
const betweenFlushWait = 2 * time.Second

// CallsBetween calls fn with every call in the history that started in
// [from, to), in the order they started, and stops at fn's first error,
// which it returns. Changes queued for saving when it is called are
// saved first (it waits for them at most 2 s, then reads what is saved):
// a figure computed just after a call ended counts that call. The
// wallboard's figures of the day come from it.
func (s *Store) CallsBetween(ctx context.Context, from, to time.Time, fn func(monitor.Call) error) error {
	fctx, cancel := context.WithTimeout(ctx, betweenFlushWait)
	_ = s.out.Flush(fctx) // a slow disk delays the figures, it does not fail them
	cancel()
	rows, err := s.db.QueryContext(ctx, s.dialect.rebind("SELECT call FROM calls WHERE started >= ? AND started < ? ORDER BY started, id"),
		from.UnixNano(), to.UnixNano())
	if err != nil {
		return fmt.Errorf("history calls between: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return fmt.Errorf("history calls between scan: %w", err)
		}
		var c monitor.Call
		if err := json.Unmarshal(raw, &c); err != nil {
			return fmt.Errorf("history calls between decode: %w", err)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("history calls between: %w", err)
	}
	return nil
}

// DB returns the store's database, for the tables of other parts kept in
// the same database (the web server's sign-ins, web/sessiondb), which
// bring their own schema and its version; Driver says which SQL it reads. The store stays its owner: Close
// closes it.
func (s *Store) DB() *sql.DB { return s.db }
