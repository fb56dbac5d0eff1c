package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// The /phone WebSocket protocol: JSON text messages, one object each, with
// a "type". See the README for the full description.
//
// server → page: welcome, registration, sdp, incoming, call, error.
// page → server: sdp, candidate, dial, answer, decline, hangup.

// Message types.
const (
	msgWelcome      = "welcome"
	msgRegistration = "registration"
	msgSDP          = "sdp"
	msgCandidate    = "candidate"
	msgIncoming     = "incoming"
	msgCall         = "call"
	msgError        = "error"
	msgDial         = "dial"
	msgAnswer       = "answer"
	msgDecline      = "decline"
	msgHangup       = "hangup"
)

// maxMessage bounds one page message; SDP offers are a few kilobytes.
const maxMessage = 64 << 10

// PhoneCall is a call as the page sees it.
type PhoneCall struct {
	ID        monitor.CallID    `json:"id"`
	Account   string            `json:"account"`
	Direction monitor.Direction `json:"direction"`
	// State is the SIP call's state as sipbridge reports it: trying,
	// ringing, early, connected or ended (static/phone.js names the same
	// set in its CallState).
	State  sipbridge.CallState `json:"state"`
	Remote monitor.Party       `json:"remote"`
	// Codec is the audio format as sipbridge.Codec.String writes it, e.g.
	// "PCMU/8000" or "opus/48000/2", once negotiated.
	Codec  string         `json:"codec,omitempty"`
	Status int            `json:"status,omitempty"`
	Reason monitor.Reason `json:"reason,omitempty"`
	// Message says in plain words why the call ended or failed.
	Message  string    `json:"message,omitempty"`
	Started  time.Time `json:"started"`
	Answered time.Time `json:"answered,omitzero"`
	Ended    time.Time `json:"ended,omitzero"`
}

// serverMessage is any message the server sends.
type serverMessage struct {
	Type       string                     `json:"type"`
	User       string                     `json:"user,omitempty"`
	Accounts   []monitor.SourceStatus     `json:"accounts,omitempty"`
	ICEServers []ICEServer                `json:"ice_servers,omitempty"`
	Account    *monitor.SourceStatus      `json:"account,omitempty"`
	SDP        *webrtc.SessionDescription `json:"sdp,omitempty"`
	Call       *PhoneCall                 `json:"call,omitempty"`
}

// errorMessage tells the page what went wrong, in plain words; Call names
// the call it concerns, if any.
type errorMessage struct {
	Type    string         `json:"type"`
	Message string         `json:"message"`
	Call    monitor.CallID `json:"call,omitempty"`
}

// clientMessage is any message the page sends.
type clientMessage struct {
	Type      string                     `json:"type"`
	SDP       *webrtc.SessionDescription `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit   `json:"candidate,omitempty"`
	Account   string                     `json:"account,omitempty"`
	To        string                     `json:"to,omitempty"`
	Call      monitor.CallID             `json:"call,omitempty"`
	Digit     string                     `json:"digit,omitempty"`
}

// maxTarget bounds a dialled number or SIP URI.
const maxTarget = 256

// parseClientMessage decodes and checks one page message.
func parseClientMessage(b []byte) (clientMessage, error) {
	var m clientMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	switch m.Type {
	case msgSDP:
		if m.SDP == nil || m.SDP.SDP == "" {
			return m, fmt.Errorf("%w: sdp without description", ErrBadMessage)
		}
		if m.SDP.Type != webrtc.SDPTypeOffer && m.SDP.Type != webrtc.SDPTypeAnswer {
			return m, fmt.Errorf("%w: sdp type %s: want offer or answer", ErrBadMessage, m.SDP.Type)
		}
	case msgCandidate:
		if m.Candidate == nil {
			return m, fmt.Errorf("%w: candidate missing", ErrBadMessage)
		}
	case msgDial:
		m.To = strings.TrimSpace(m.To)
		if m.Account == "" || m.To == "" {
			return m, fmt.Errorf("%w: dial needs account and to", ErrBadMessage)
		}
		if len(m.To) > maxTarget || strings.ContainsAny(m.To, "\r\n\x00<>\" ") {
			return m, fmt.Errorf("%w: dial target %.40q", ErrBadMessage, m.To)
		}
	case msgAnswer, msgDecline, msgHangup:
		if m.Call == "" {
			return m, fmt.Errorf("%w: %s without call", ErrBadMessage, m.Type)
		}
	default:
		return m, fmt.Errorf("%w: unknown type %.40q", ErrBadMessage, m.Type)
	}
	return m, nil
}

// plainWords says why a call ended or failed, for people.
func plainWords(ev sipbridge.CallEvent) string {
	switch ev.Reason {
	case monitor.ReasonCompleted:
		return "Call ended"
	case monitor.ReasonBusy:
		return "Busy — the other side is on another call"
	case monitor.ReasonRejected:
		return "The call was declined"
	case monitor.ReasonCancelled:
		return "The caller hung up"
	case monitor.ReasonNoAnswer:
		return "Nobody answered"
	case monitor.ReasonAnsweredElsewhere:
		return "Answered on another device"
	}
	switch ev.Status {
	case 404, 484, 604:
		return "Number not found"
	case 408, 480:
		return "Not reachable right now"
	case 403:
		return "Not allowed to call this number"
	case 486, 600:
		return "Busy — the other side is on another call"
	case 603:
		return "The call was declined"
	case 488, 606:
		return "The other side does not support our audio formats"
	}
	if ev.Text != "" {
		return "The call failed: " + ev.Text
	}
	return "The call failed"
}
