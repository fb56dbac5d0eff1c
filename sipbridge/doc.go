// Package sipbridge is the SIP user agent of the softphone: it registers
// the configured accounts at their registrar, places and receives calls
// with SDP offer/answer, and gives each call one RTP leg whose packets the
// gateway relays to and from a browser without transcoding.
//
// Start with Bridge (bridge.go): New, OnIncoming, Run, Dial. Registration
// lives in register.go, dialogs in call.go, outbound.go and inbound.go,
// SDP in sdp.go and the RTP socket in rtp.go, its outgoing stream in
// rtpstream.go and its direction gates in rtpgate.go. Call control:
// hold.go (Hold, Resume), reinvite.go (re-INVITE and UPDATE both ways,
// glare), mediastate.go (the media-state machine), callmedia.go (applying
// it to a call: gates, events, monitor), timers.go (RFC 4028 session
// timers); transfer.go has the transfer API (Transfer, TransferTo,
// OnTransferred, SendDTMF), refer.go REFER and its NOTIFYs both ways,
// replaces.go INVITE with Replaces, dtmf.go and telephoneevent.go DTMF,
// indialog.go requests inside a dialog. Busy lamps: subscription.go (the
// RFC 6665 subscriber of the dialog event package, one per blf: target)
// and dialoginfo.go (RFC 4235 documents onto device states). The wire
// parsers are sipfrag.go, replaces.go, referto.go, dtmfrelay.go,
// telephoneevent.go, dialoginfo.go and substate.go.
package sipbridge
