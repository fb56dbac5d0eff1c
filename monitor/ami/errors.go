package ami

import "errors"

var (
	// ErrMalformed is returned for a line that is not "Key: Value".
	ErrMalformed = errors.New("ami: malformed line")
	// ErrTooLarge is returned for a line or message over the reader's limits.
	ErrTooLarge = errors.New("ami: message too large")
	// ErrBanner is returned when the peer does not greet as a manager
	// interface.
	ErrBanner = errors.New("ami: not an Asterisk manager banner")
)
