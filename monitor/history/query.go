package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// where builds the WHERE clause of f and its arguments.
func (s *Store) where(f Filter) (string, []any, error) {
	var conds []string
	var args []any
	if cond, a := s.numbers.parseNumberQuery(f.Number).sql(s.dialect.ilike); cond != "" {
		conds = append(conds, cond)
		args = append(args, a...)
	}
	if f.Source != "" {
		conds = append(conds, "source = ?")
		args = append(args, string(f.Source))
	}
	switch f.Outcome {
	case OutcomeAny:
	case OutcomeMissed:
		// As monitor.Call.Missed: inbound, never answered here and not
		// answered elsewhere.
		conds = append(conds, "answered IS NULL AND direction = ? AND reason <> ?")
		args = append(args, string(monitor.Inbound), string(monitor.ReasonAnsweredElsewhere))
	case OutcomeAnswered:
		conds = append(conds, "answered IS NOT NULL")
	default:
		return "", nil, fmt.Errorf("%w: outcome %q", ErrBadFilter, f.Outcome)
	}
	if !f.Since.IsZero() {
		conds = append(conds, "started >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		conds = append(conds, "started < ?")
		args = append(args, f.Until.UnixNano())
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return "", nil, fmt.Errorf("%w: until %s is before since %s", ErrBadFilter, f.Until.Format(time.RFC3339), f.Since.Format(time.RFC3339))
	}
	if f.Offset < 0 || f.Limit < 0 {
		return "", nil, fmt.Errorf("%w: limit %d offset %d", ErrBadFilter, f.Limit, f.Offset)
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// limit is the page size f asks for, within bounds.
func (f Filter) limit() int {
	switch {
	case f.Limit <= 0:
		return DefaultLimit
	case f.Limit > MaxLimit:
		return MaxLimit
	}
	return f.Limit
}

// Query returns the page of calls f selects, newest first, and how many
// calls it selects in all.
func (s *Store) Query(ctx context.Context, f Filter) (Page, error) {
	where, args, err := s.where(f)
	if err != nil {
		return Page{}, fmt.Errorf("history query: %w", err)
	}
	// One transaction, so the total and the page agree while calls are
	// being saved.
	tx, err := s.db.BeginTx(ctx, s.dialect.readTx)
	if err != nil {
		return Page{}, fmt.Errorf("history query: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only; nothing to undo
	var p Page
	if err := tx.QueryRowContext(ctx, s.dialect.rebind("SELECT COUNT(*) FROM calls"+where), args...).Scan(&p.Total); err != nil {
		return Page{}, fmt.Errorf("history query count: %w", err)
	}
	rows, err := tx.QueryContext(ctx, s.dialect.rebind("SELECT call FROM calls"+where+" ORDER BY started DESC, id DESC LIMIT ? OFFSET ?"),
		append(args, f.limit(), f.Offset)...)
	if err != nil {
		return Page{}, fmt.Errorf("history query: %w", err)
	}
	defer rows.Close()
	p.Calls = []monitor.Call{}
	if err := scanCalls(rows, func(c monitor.Call) error {
		p.Calls = append(p.Calls, c)
		return nil
	}); err != nil {
		return Page{}, fmt.Errorf("history query: %w", err)
	}
	return p, nil
}

// scanCalls decodes each row's call and hands it to fn, until fn fails.
func scanCalls(rows *sql.Rows, fn func(monitor.Call) error) error {
	var raw []byte
	for rows.Next() {
		if err := rows.Scan(&raw); err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		var c monitor.Call
		if err := json.Unmarshal(raw, &c); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Each calls fn with every call f selects, newest first, one at a time as
// they are read from the database, so that an export of any size holds
// one call in memory; f's Limit and Offset are ignored. It stops at the
// first error of fn, which it returns as it is, and when ctx ends. The
// calls are those of one snapshot of the database: saves meanwhile
// neither show up nor wait.
func (s *Store) Each(ctx context.Context, f Filter, fn func(monitor.Call) error) error {
	where, args, err := s.where(f)
	if err != nil {
		return fmt.Errorf("history export: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, s.dialect.rebind("SELECT call FROM calls"+where+" ORDER BY started DESC, id DESC"), args...)
	if err != nil {
		return fmt.Errorf("history export: %w", err)
	}
	defer rows.Close()
	var fnErr error
	err = scanCalls(rows, func(c monitor.Call) error {
		fnErr = fn(c)
		return fnErr
	})
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil:
		return fmt.Errorf("history export: %w", err)
	}
	return nil
}

// Recent returns the newest calls started since since (the wallboard's
// "today"), at most limit (0: DefaultLimit).
func (s *Store) Recent(ctx context.Context, since time.Time, limit int) ([]monitor.Call, error) {
	p, err := s.Query(ctx, Filter{Since: since, Limit: limit})
	if err != nil {
		return nil, err
	}
	return p.Calls, nil
}
