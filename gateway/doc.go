// Package gateway is the browser side of the softphone: one pion
// PeerConnection per open softphone page (a Session), the /phone WebSocket
// signalling, and the media bridge that joins the page's audio to the RTP leg
// of a SIP call.
//
// Start with Gateway (New, ServeSession) and the SIP interface, which is
// what the gateway needs of the SIP side, in sipbridge's own values
// (Codec, CallState, CallEvent; sipbridge.Bridge behind a type-only
// adapter, see FromBridge). A Session keeps its PeerConnection across calls:
// for each call it renegotiates on the live connection (RFC 8829 section
// 4.1.8 applies codec preferences to the next offer) so that ICE and DTLS
// are never redone, and swaps its outgoing track to the call's codec. Media
// passes through unchanged apart from the RTP header (payload type, SSRC,
// sequence number and timestamp offsets; RFC 3550 section 5.1), without
// transcoding and without allocations per packet.
package gateway
