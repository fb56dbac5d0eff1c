package history

import "errors"

var (
	// ErrNotEnded is returned by Save for a call that has not ended: the
	// history holds finished calls only.
	ErrNotEnded = errors.New("call has not ended")
	// ErrBadPath is returned by Open for a database path it cannot use.
	ErrBadPath = errors.New("unusable history database path")
	// ErrBadFilter is returned by Query for a filter that cannot select
	// anything (an unknown outcome, a negative offset).
	ErrBadFilter = errors.New("invalid history filter")
)
