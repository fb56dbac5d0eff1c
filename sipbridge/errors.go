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
	// ErrBadSipfrag is returned for a message/sipfrag body (a REFER's
	// NOTIFY, RFC 3420) that does not start with a SIP status line.
	ErrBadSipfrag = errors.New("malformed sipfrag")
	// ErrBadReplaces is returned for a malformed Replaces header (RFC 3891).
	ErrBadReplaces = errors.New("malformed replaces header")
	// ErrBadReferTo is returned for a malformed Refer-To header (RFC 3515).
	ErrBadReferTo = errors.New("malformed refer-to header")
	// ErrBadTelephoneEvent is returned for an RTP payload too short for an
	// RFC 4733 telephone-event.
	ErrBadTelephoneEvent = errors.New("malformed telephone-event")
	// ErrBadDTMFBody is returned for a SIP INFO DTMF body
	// (application/dtmf-relay, application/dtmf) without a valid key.
	ErrBadDTMFBody = errors.New("malformed dtmf body")
	// ErrBadDigit is returned by SendDTMF for a character that is no DTMF
	// key (0-9, *, #, A-D).
	ErrBadDigit = errors.New("not a dtmf key")
	// ErrRefused is returned when the far end answered a request of a
	// call (a hold or resume re-INVITE, REFER, INFO) with an error status;
	// the status is in the wrapping message. The call goes on as it was.
	ErrRefused = errors.New("refused by the far end")
	// ErrTransferPending is returned by Transfer and TransferTo while an
	// earlier transfer of the call still waits for its outcome.
	ErrTransferPending = errors.New("a transfer of this call is in progress")
)
