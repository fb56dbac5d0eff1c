package history

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// where builds the WHERE clause of f and its arguments.
func (f Filter) where() (string, []any, error) {
	var conds []string
	var args []any
	if f.Number != "" {
		// A substring anywhere in either number; LIKE's wildcards in the
		// search are taken literally.
		pat := "%" + likeEscaper.Replace(f.Number) + "%"
		conds = append(conds, `(from_number LIKE ? ESCAPE '\' OR to_number LIKE ? ESCAPE '\')`)
		args = append(args, pat, pat)
	}
	if f.Source != "" {
		conds = append(conds, "source = ?")
		args = append(args, string(f.Source))
	}
	switch f.Outcome {
	case OutcomeAny:
	case OutcomeMissed:
		// As monitor.Call.Missed: inbound and never answered.
		conds = append(conds, "answered IS NULL AND direction = ?")
		args = append(args, string(monitor.Inbound))
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
	where, args, err := f.where()
	if err != nil {
		return Page{}, fmt.Errorf("history query: %w", err)
	}
	// One transaction, so the total and the page agree while calls are
	// being saved.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Page{}, fmt.Errorf("history query: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only; nothing to undo
	var p Page
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM calls"+where, args...).Scan(&p.Total); err != nil {
		return Page{}, fmt.Errorf("history query count: %w", err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT call FROM calls"+where+" ORDER BY started DESC, id DESC LIMIT ? OFFSET ?",
		append(args, f.limit(), f.Offset)...)
	if err != nil {
		return Page{}, fmt.Errorf("history query: %w", err)
	}
	defer rows.Close()
	p.Calls = []monitor.Call{}
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return Page{}, fmt.Errorf("history query scan: %w", err)
		}
		var c monitor.Call
		if err := json.Unmarshal(raw, &c); err != nil {
			return Page{}, fmt.Errorf("history query decode: %w", err)
		}
		p.Calls = append(p.Calls, c)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("history query: %w", err)
	}
	return p, nil
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
