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
	// ErrBusy: the page has as many calls as it may.
	ErrBusy = errors.New("too many calls")
	// ErrCallState: the call is not in a state that allows the request
	// (hold a call that is not connected).
	ErrCallState = errors.New("not possible in the call's state")
	// ErrNoSuchCall: the call is not known to the session.
	ErrNoSuchCall = errors.New("no such call")
	// ErrNoCodec: no codec is common to the SIP leg and the browser leg.
	ErrNoCodec = errors.New("no common codec")
	// ErrNotReady: the page's media connection is not set up yet.
	ErrNotReady = errors.New("media connection not ready")
	// ErrLimit: a cap refused the request (calls per user or account,
	// dials per minute); the page is told which in plain words.
	ErrLimit = errors.New("over a softphone cap")
	// ErrSlowClient: the page did not read its messages in time.
	ErrSlowClient = errors.New("phone client too slow")
)
