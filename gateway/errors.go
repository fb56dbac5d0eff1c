package gateway

import "errors"

// Sentinel errors. Compare with errors.Is; details are wrapped around them.
var (
	// ErrBadConfig: the configuration is invalid.
	ErrBadConfig = errors.New("invalid gateway config")
	// ErrClosed: the gateway or the session has been closed.
	ErrClosed = errors.New("gateway closed")
	// ErrBadMessage: the page sent a message that is not valid JSON or not
	// a known message of the /phone protocol.
	ErrBadMessage = errors.New("bad phone message")
	// ErrNotAllowed: the user may not use the account.
	ErrNotAllowed = errors.New("account not allowed for this user")
	// ErrBusy: the session already has a call.
	ErrBusy = errors.New("already on a call")
	// ErrNoSuchCall: the call is not known to the session.
	ErrNoSuchCall = errors.New("no such call")
	// ErrNoCodec: no codec is common to the SIP leg and the browser leg.
	ErrNoCodec = errors.New("no common codec")
	// ErrNotReady: the page's media connection is not set up yet.
	ErrNotReady = errors.New("media connection not ready")
	// ErrSlowClient: the page did not read its messages in time.
	ErrSlowClient = errors.New("phone client too slow")
)
