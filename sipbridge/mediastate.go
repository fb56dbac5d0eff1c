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

// mediaPhase is where a call's media is in its life.
type mediaPhase uint8

const (
	// phaseNone: no offer/answer exchange has completed yet.
	phaseNone mediaPhase = iota
	// phaseLive: the call was answered; the directions decide the state.
	phaseLive
	// phaseFailed: the media was lost.
	phaseFailed
	// phaseOver: the call ended.
	phaseOver
)

// mediaMachine is what the media state is derived from: who holds, as the
// last offer/answer exchange left it, and what the far end's SDP said.
// Its methods are pure; the Call keeps one under its lock.
type mediaMachine struct {
	phase mediaPhase
	// localHold: this side holds (its last offer was sendonly or
	// inactive and was answered).
	localHold bool
	// remoteHold: the far end holds (it offered sendonly or inactive,
	// c=0.0.0.0, or refused to take part in our sendrecv offer).
	remoteHold bool
	// theirs is the direction of the far end's last SDP and null whether
	// its address was 0.0.0.0 (the RFC 2543 form of hold).
	theirs Direction
	null   bool
}

// exchangeKind says who made the offer of a completed exchange.
type exchangeKind uint8

const (
	// weOffered: our offer (INVITE, re-INVITE, UPDATE or the 200 of a
	// re-INVITE without SDP), their answer.
	weOffered exchangeKind = iota
	// theyOffered: their offer, our answer.
	theyOffered
)

// mediaStep is one input of the machine.
type mediaStep struct {
	// exchange is set for a completed offer/answer exchange.
	exchange bool
	kind     exchangeKind
	// ours and theirs are the directions of our and their SDP in the
	// exchange; null is set when theirs named 0.0.0.0.
	ours, theirs Direction
	null         bool
	// lost is set when the media was lost (RTP timeout).
	lost bool
	// ended is set when the call ended.
	ended bool
}

// holds reports whether a direction in an offer asks for hold (RFC 3264
// section 8.4): the offerer no longer wants to receive.
func holds(d Direction) bool { return d == SendOnly || d == Inactive }

// next is the machine after step s.
func (m mediaMachine) next(s mediaStep) mediaMachine {
	switch {
	case s.ended:
		m.phase = phaseOver
		return m
	case m.phase == phaseOver:
		return m
	case s.lost:
		if m.phase == phaseLive {
			m.phase = phaseFailed
		}
		return m
	case !s.exchange || m.phase == phaseFailed:
		return m
	}
	m.phase = phaseLive
	m.theirs, m.null = s.theirs, s.null
	switch s.kind {
	case theyOffered:
		// Their offer says what they want; our answer followed our own
		// hold, which it does not change.
		m.remoteHold = holds(s.theirs) || s.null
	case weOffered:
		m.localHold = holds(s.ours)
		switch {
		case s.null || s.theirs == SendOnly:
			// They will not receive: holding, sending music at most.
			m.remoteHold = true
		case s.theirs == Inactive && s.ours == SendRecv:
			// They refused both directions of a full offer.
			m.remoteHold = true
		case s.theirs == Inactive:
			// The only answer to an inactive offer, and one of the two to
			// a sendonly one: it says nothing new about their hold.
		default:
			// recvonly or sendrecv: they take our audio.
			m.remoteHold = false
		}
	}
	return m
}

// state is the media state the machine stands for.
func (m mediaMachine) state() MediaState {
	switch m.phase {
	case phaseLive:
	case phaseFailed:
		return MediaError
	default:
		return MediaNone
	}
	switch {
	case m.localHold && m.remoteHold:
		return MediaInactive
	case m.localHold:
		return MediaLocalHold
	case m.remoteHold:
		return MediaRemoteHold
	}
	return MediaActive
}

// held reports whether the monitor shows the call held: either side holds.
func (m mediaMachine) held() bool {
	s := m.state()
	return s == MediaLocalHold || s == MediaRemoteHold || s == MediaInactive
}

// theySend reports whether the far end's SDP lets it send to us (a
// c=0.0.0.0 holder may still play music).
func (m mediaMachine) theySend() bool { return m.theirs == SendRecv || m.theirs == SendOnly }

// theyReceive reports whether the far end's SDP lets us send to it.
func (m mediaMachine) theyReceive() bool {
	return !m.null && (m.theirs == SendRecv || m.theirs == RecvOnly)
}

// forwardOut reports whether the page's audio goes to the far end: only
// while nobody holds and the far end takes audio.
func (m mediaMachine) forwardOut() bool { return m.state() == MediaActive && m.theyReceive() }

// forwardIn reports whether the far end's audio goes to the page: unless we
// hold, whenever they send (music on hold on remote-hold included).
func (m mediaMachine) forwardIn() bool {
	return m.phase == phaseLive && !m.localHold && m.theySend()
}

// expectRTP reports whether the media timeout runs: only while the call is
// active and the far end sends. A holding phone may send nothing at all.
func (m mediaMachine) expectRTP() bool { return m.state() == MediaActive && m.theySend() }

// offerDirection is the direction of our next offer: sendrecv, or sendonly
// while we hold, inactive when the far end holds as well.
func offerDirection(localHold, remoteHold bool) Direction {
	switch {
	case !localHold:
		return SendRecv
	case remoteHold:
		return Inactive
	}
	return SendOnly
}

// answerDirection is our answer's direction to an offered one (RFC 3264
// section 6.1), receiving nothing while we hold.
func answerDirection(offered Direction, localHold bool) Direction {
	d := offered.reverse()
	if !localHold {
		return d
	}
	switch d {
	case SendRecv:
		return SendOnly
	case RecvOnly:
		return Inactive
	}
	return d
}
