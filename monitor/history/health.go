package history

import "fmt"

// Health is what /healthz shows of the history.
type Health struct {
	// Database is the driver the history is kept in: sqlite or
	// postgres.
	Database Driver
	// Reachable is false while the database cannot be written or, on
	// PostgreSQL, does not answer the store's check (every 5 s).
	Reachable bool
	// OK is false while the database cannot be written or call changes
	// wait in the retry spool.
	OK bool
	// Problem says what is wrong in plain words, for anyone (no paths, no
	// database errors); empty when OK.
	Problem string
	// Spooled is how many call changes wait in the retry spool.
	Spooled int
	// SpoolFull is true when the spool refused a change since it last
	// shrank: changes are being lost.
	SpoolFull bool
	// Lost counts call changes lost for good since Open: the spool was
	// full, could not be written, or too many failed at once to reach it.
	Lost uint64
	// Error is the last write error as the database gave it, while it
	// cannot be written. It may name files: for logs and signed-in
	// admins, not for /healthz without sign-in.
	Error string
}

// Health returns the history's state now.
func (s *Store) Health() Health {
	n, _, full := s.spool.stats()
	err := s.lastError()
	h := Health{OK: true, Database: s.dialect.driver, Reachable: err == nil, Spooled: n, SpoolFull: full, Lost: s.lost()}
	if err != nil {
		h.Error = err.Error()
	}
	switch {
	case full:
		h.Problem = fmt.Sprintf("the call history cannot be written and its retry spool is full: calls are being lost (%d waiting)", n)
	case err != nil && n == 0 && s.dialect.driver == Postgres:
		// The check found the server gone before anything had to wait.
		h.Problem = "the call history's PostgreSQL server does not answer; call changes go to the retry spool until it does"
	case err != nil:
		h.Problem = fmt.Sprintf("the call history cannot be written; %d call changes are kept in the retry spool and saved once it can", n)
	case n > 0:
		h.Problem = fmt.Sprintf("the call history is catching up: %d call changes wait in the retry spool", n)
	}
	h.OK = h.Problem == ""
	return h
}

// lost counts changes lost for good: refused or failed by the spool, or
// never reported to it (see monitor.OutboxStats.Unreported).
func (s *Store) lost() uint64 {
	return s.lostFull.Load() + s.lostError.Load() + s.out.Stats().Unreported
}
