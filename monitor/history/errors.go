package history

import "errors"

var (
	// ErrNotEnded is returned by Save for a call that has not ended: the
	// history holds finished calls only.
	ErrNotEnded = errors.New("call has not ended")
	// ErrBadPath is returned by Open for a database path it cannot use.
	ErrBadPath = errors.New("unusable history database path")
	// ErrBadConfig is returned by Config.Validate.
	ErrBadConfig = errors.New("invalid history configuration")
	// ErrBadDSN is returned by OpenPostgres for a connection string it
	// cannot read.
	ErrBadDSN = errors.New("unusable PostgreSQL connection string")
	// ErrBadFilter is returned by Query for a filter that cannot select
	// anything (an unknown outcome, a negative offset).
	ErrBadFilter = errors.New("invalid history filter")
	// ErrBadCountry is returned by Open for a default country that is no
	// ISO 3166 region libphonenumber knows.
	ErrBadCountry = errors.New("unknown country")
	// ErrSpoolFull is why a call change the database did not take was
	// lost: the retry spool had reached its size limit.
	ErrSpoolFull = errors.New("history retry spool full")
	// ErrSpoolLine is returned for a retry spool line that cannot be read
	// (cut short by a crash, damaged) or a change too big for one.
	ErrSpoolLine = errors.New("unreadable history spool line")
	// ErrUnavailable is what a call change gets, instead of a save, while
	// the database cannot be written: it goes straight to the retry
	// spool, in order, until the retry loop has written the spool.
	ErrUnavailable = errors.New("history database cannot be written")
)
