package sipbridge

import "errors"

var (
	// ErrUnknownAccount is returned by Dial for an account not configured.
	ErrUnknownAccount = errors.New("unknown sip account")
	// ErrNotReady is returned by Dial before Run has started the listeners
	// or once it is shutting down.
	ErrNotReady = errors.New("sip bridge not running")
	// ErrBadSDP is returned for an SDP body that cannot be parsed.
	ErrBadSDP = errors.New("malformed sdp")
	// ErrNoCommonCodec is returned when an offer shares no audio codec with
	// what this side accepts (answered with 488, RFC 3264 section 6).
	ErrNoCommonCodec = errors.New("no common audio codec")
	// ErrCallState is returned for an action the call's state does not allow
	// (answering an outgoing call, rejecting an answered one).
	ErrCallState = errors.New("action not allowed in this call state")
	// ErrCallEnded is returned for an action on a call that has ended.
	ErrCallEnded = errors.New("call ended")
	// ErrNoRTPPort is returned when every port of the RTP range is in use.
	ErrNoRTPPort = errors.New("no free rtp port in range")
	// ErrConfig is wrapped by every configuration error.
	ErrConfig = errors.New("invalid sip config")
	// ErrRefused is returned when the far end answered a change of this
	// side (hold, resume) with a failure; the error names the status.
	// The call goes on as it was.
	ErrRefused = errors.New("refused by the far end")
)
