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
	// ErrAuth is returned when the manager refuses the credentials.
	ErrAuth = errors.New("ami: authentication failed")
	// ErrClosed is returned by actions on a closed connection.
	ErrClosed = errors.New("ami: connection closed")
	// ErrActionFailed is returned for a "Response: Error", wrapped with
	// monitor.ErrRefused and the manager's Message.
	ErrActionFailed = errors.New("ami: action failed")
)
