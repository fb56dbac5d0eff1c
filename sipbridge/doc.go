// Package sipbridge is the SIP user agent of the softphone: it registers
// the configured accounts at their registrar, places and receives calls
// with SDP offer/answer, and gives each call one RTP leg whose packets the
// gateway relays to and from a browser without transcoding.
//
// Start with Bridge (bridge.go): New, OnIncoming, Run, Dial. Registration
// lives in register.go, dialogs in call.go, outbound.go and inbound.go,
// SDP in sdp.go and the RTP socket in rtp.go, its outgoing stream in
// rtpstream.go. Call control: transfer.go has the API (Transfer,
// TransferTo, OnTransferred, SendDTMF), refer.go REFER and its NOTIFYs
// both ways, replaces.go INVITE with Replaces, dtmf.go and
// telephoneevent.go DTMF, indialog.go requests inside a dialog; the wire
// parsers are sipfrag.go, replaces.go, referto.go, dtmfrelay.go and
// telephoneevent.go.
package sipbridge
