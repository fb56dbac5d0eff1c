package fritz

import (
	"errors"

	"github.com/switchboard/switchboard/monitor"
)

var (
	// ErrMalformed is returned by ParseLine for a line that is not in the
	// AVM call-monitor format: too few fields, a bad date, a bad connection
	// id or duration. The wrapped error says which.
	ErrMalformed = errors.New("malformed call-monitor line")
	// ErrUnknownKind is returned by ParseLine for a well-formed line whose
	// event is none of RING, CALL, CONNECT and DISCONNECT.
	ErrUnknownKind = errors.New("unknown call-monitor event")
	// ErrLineTooLong is reported (counted and logged, never returned by
	// Run) for a line longer than MaxLineLength: it is skipped up to its
	// newline and the link stays up, since the next line is whole again.
	ErrLineTooLong = errors.New("call-monitor line too long")
	// ErrHealthCheck is the cause of a reconnect when the link was idle and
	// a second connection to the router failed.
	ErrHealthCheck = errors.New("health check failed")
	// ErrInvalidConfig is returned by Validate for a configuration that
	// cannot work. It is monitor.ErrInvalidConfig, which the shared link
	// settings are checked against too.
	ErrInvalidConfig = monitor.ErrInvalidConfig
)
