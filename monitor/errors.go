package monitor

import "errors"

var (
	// ErrUnsupported is returned by a Controller for an action its source
	// cannot perform.
	ErrUnsupported = errors.New("action not supported by this source")
	// ErrNoSuchCall is returned for an action on a call that is not active.
	ErrNoSuchCall = errors.New("no such active call")
	// ErrNotConnected is returned when a source's link is down.
	ErrNotConnected = errors.New("source not connected")
	// ErrHubClosed is returned by Subscribe after the hub was closed.
	ErrHubClosed = errors.New("hub closed")
)
