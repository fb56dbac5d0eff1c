package sipbridge

// MediaState is what a call's audio is doing, as pjsua's on_media_state
// reports it. The gateway passes these values to the page unchanged; a
// new state is added here, once.
type MediaState string

// Media states.
const (
	// MediaNone: no media yet (before the answer or early media) or any
	// more (after the end).
	MediaNone MediaState = "none"
	// MediaActive: audio flows both ways.
	MediaActive MediaState = "active"
	// MediaLocalHold: this side holds the call (we offered sendonly).
	MediaLocalHold MediaState = "local-hold"
	// MediaRemoteHold: the far end holds the call (it offered sendonly or
	// the old-phone form c=0.0.0.0); its music on hold still reaches us.
	MediaRemoteHold MediaState = "remote-hold"
	// MediaInactive: both sides hold, or a=inactive: no audio either way.
	MediaInactive MediaState = "inactive"
	// MediaError: media was lost (RTP timeout, the page's ICE/DTLS failed).
	MediaError MediaState = "error"
)

// TransferState is how far a transfer this side started has come, from
// the NOTIFY message/sipfrag progress of RFC 3515.
type TransferState string

// Transfer states.
const (
	// TransferTrying: the REFER was sent or accepted (202); the target is
	// being called.
	TransferTrying TransferState = "trying"
	// TransferRinging: the target rings (sipfrag 180/183).
	TransferRinging TransferState = "ringing"
	// TransferAccepted: the target answered (sipfrag 2xx); our leg ends.
	TransferAccepted TransferState = "accepted"
	// TransferFailed: the REFER was refused, the target did not answer
	// (sipfrag 3xx-6xx) or no final NOTIFY came in time; the call stays.
	TransferFailed TransferState = "failed"
)

// TransferProgress is one step of a transfer this side started.
type TransferProgress struct {
	State TransferState
	// Status is the SIP status of the REFER's answer or of the sipfrag.
	Status int
	// Message says what happened in plain words.
	Message string
}
