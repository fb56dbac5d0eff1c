package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// The /phone WebSocket protocol: JSON text messages, one object each, with
// a "type". See the README for the full description.
//
// server → page: welcome, registration, sdp, incoming, call, dtmf, error.
// page → server: sdp, candidate, dial, answer, decline, hangup, hold,
// resume, transfer, dtmf.

// MessageType is the "type" of a /phone message. static/phone.js names the
// same set in its MessageType object, which a test keeps equal to these
// constants; a type is added here and there, never spelled elsewhere.
type MessageType string

// Message types. Dtmf goes both ways: digits to send from the page, digits
// received from the far end to the page.
const (
	// MsgWelcome is the server's first message: the user, the accounts'
	// registration and the ICE servers.
	MsgWelcome MessageType = "welcome"
	// MsgRegistration tells the page that an account's registration changed.
	MsgRegistration MessageType = "registration"
	// MsgSDP carries a session description, either way.
	MsgSDP MessageType = "sdp"
	// MsgCandidate is a trickled ICE candidate from the page.
	MsgCandidate MessageType = "candidate"
	// MsgIncoming announces a call ringing this page.
	MsgIncoming MessageType = "incoming"
	// MsgCall reports one of the page's calls as it now is.
	MsgCall MessageType = "call"
	// MsgError says in plain words what went wrong.
	MsgError MessageType = "error"
	// MsgDial asks for an outgoing call.
	MsgDial MessageType = "dial"
	// MsgAnswer answers a ringing call.
	MsgAnswer MessageType = "answer"
	// MsgDecline turns a ringing call away.
	MsgDecline MessageType = "decline"
	// MsgHangup ends a call, or cancels a dial by its client id.
	MsgHangup MessageType = "hangup"
	// MsgHold puts a call on hold.
	MsgHold MessageType = "hold"
	// MsgResume takes a call off hold and joins the page's audio to it.
	MsgResume MessageType = "resume"
	// MsgTransfer transfers a call: blind to a number, or attended to the
	// party of a consultation call.
	MsgTransfer MessageType = "transfer"
	// MsgDTMF carries telephone keypad digits.
	MsgDTMF MessageType = "dtmf"
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
	// set in its CallState). It never goes back to an earlier one.
	State sipbridge.CallState `json:"state"`
	// Media is what the call's audio is doing for this page, in
	// sipbridge's MediaState values: active only while the page's audio
	// is joined to the call; see the README for the rules.
	Media  sipbridge.MediaState `json:"media"`
	Remote monitor.Party        `json:"remote"`
	// Codec is the audio format as sipbridge.Codec.String writes it, e.g.
	// "PCMU/8000" or "opus/48000/2", once negotiated.
	Codec  string         `json:"codec,omitempty"`
	Status int            `json:"status,omitempty"`
	Reason monitor.Reason `json:"reason,omitempty"`
	// Message says in plain words why the call ended or failed, or that
	// its audio was lost.
	Message string `json:"message,omitempty"`
	// Transfer is the progress of the last transfer the page started on
	// this call.
	Transfer *TransferView `json:"transfer,omitempty"`
	// TransferredFrom names the call this one replaces because the far
	// end transferred us.
	TransferredFrom monitor.CallID `json:"transferred_from,omitempty"`
	Started         time.Time      `json:"started"`
	Answered        time.Time      `json:"answered,omitzero"`
	Ended           time.Time      `json:"ended,omitzero"`
}

// TransferView is a transfer's progress as the page sees it.
type TransferView struct {
	State sipbridge.TransferState `json:"state"`
	// Status is the SIP status of the step, when there is one.
	Status int `json:"status,omitempty"`
	// Message says what happened in plain words.
	Message string `json:"message,omitempty"`
}

// serverMessage is any message the server sends but errors and digits.
type serverMessage struct {
	Type MessageType `json:"type"`
	// ID echoes the client id of the dial that placed the call.
	ID         string                     `json:"id,omitempty"`
	User       string                     `json:"user,omitempty"`
	Accounts   []monitor.SourceStatus     `json:"accounts,omitempty"`
	ICEServers []ICEServer                `json:"ice_servers,omitempty"`
	Account    *monitor.SourceStatus      `json:"account,omitempty"`
	SDP        *webrtc.SessionDescription `json:"sdp,omitempty"`
	Call       *PhoneCall                 `json:"call,omitempty"`
}

// errorMessage tells the page what went wrong, in plain words; Call names
// the call it concerns and ID the client id of the request, if any.
type errorMessage struct {
	Type    MessageType    `json:"type"`
	Message string         `json:"message"`
	Call    monitor.CallID `json:"call,omitempty"`
	ID      string         `json:"id,omitempty"`
}

// dtmfMessage carries digits the far end of a call sent.
type dtmfMessage struct {
	Type   MessageType    `json:"type"`
	Call   monitor.CallID `json:"call"`
	Digits string         `json:"digits"`
}

// clientMessage is any message the page sends.
type clientMessage struct {
	Type MessageType `json:"type"`
	// ID is the page's own id for a dial, echoed in the replies; a hangup
	// with it and no call cancels that dial.
	ID        string                     `json:"id,omitempty"`
	SDP       *webrtc.SessionDescription `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit   `json:"candidate,omitempty"`
	Account   string                     `json:"account,omitempty"`
	To        string                     `json:"to,omitempty"`
	Call      monitor.CallID             `json:"call,omitempty"`
	// Consult is the consultation call of an attended transfer.
	Consult monitor.CallID `json:"consult,omitempty"`
	Digits  string         `json:"digits,omitempty"`
}

// Limits on what the page sends.
const (
	// maxTarget bounds a dialled number or SIP URI.
	maxTarget = 256
	// maxClientID bounds the page's request id.
	maxClientID = 64
	// maxDigits bounds one dtmf message.
	maxDigits = 32
	// maxCallID bounds a call id the page names: the account's name and
	// the SIP Call-ID, which real user agents keep well under 100 bytes.
	// A longer one names no call and is not echoed back.
	maxCallID = 512
)

// parseClientMessage decodes and checks one page message. On an error the
// message is returned as far as it was decoded, so that the reply can name
// its call and id.
func parseClientMessage(b []byte) (clientMessage, error) {
	var m clientMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return clientMessage{}, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	// Ids the reply would echo are cleared when they are not fit to be.
	var bad error
	if len(m.Call) > maxCallID || len(m.Consult) > maxCallID {
		m.Call, m.Consult = "", ""
		bad = fmt.Errorf("%w: call id over %d bytes", ErrBadMessage, maxCallID)
	}
	if !validClientID(m.ID) {
		m.ID = ""
		if bad == nil {
			bad = fmt.Errorf("%w: id: at most %d printable characters", ErrBadMessage, maxClientID)
		}
	}
	if bad != nil {
		return m, bad
	}
	switch m.Type {
	case MsgSDP:
		if m.SDP == nil || m.SDP.SDP == "" {
			return m, fmt.Errorf("%w: sdp without description", ErrBadMessage)
		}
		if m.SDP.Type != webrtc.SDPTypeOffer && m.SDP.Type != webrtc.SDPTypeAnswer {
			return m, fmt.Errorf("%w: sdp type %s: want offer or answer", ErrBadMessage, m.SDP.Type)
		}
	case MsgCandidate:
		if m.Candidate == nil {
			return m, fmt.Errorf("%w: candidate missing", ErrBadMessage)
		}
	case MsgDial:
		m.To = strings.TrimSpace(m.To)
		if m.Account == "" || m.To == "" {
			return m, fmt.Errorf("%w: dial needs account and to", ErrBadMessage)
		}
		if !validTarget(m.To) {
			return m, fmt.Errorf("%w: dial target %.40q", ErrBadMessage, m.To)
		}
	case MsgAnswer, MsgDecline, MsgHold, MsgResume:
		if m.Call == "" {
			return m, fmt.Errorf("%w: %s without call", ErrBadMessage, m.Type)
		}
	case MsgHangup:
		if m.Call == "" && m.ID == "" {
			return m, fmt.Errorf("%w: hangup without call or id", ErrBadMessage)
		}
	case MsgTransfer:
		m.To = strings.TrimSpace(m.To)
		switch {
		case m.Call == "":
			return m, fmt.Errorf("%w: transfer without call", ErrBadMessage)
		case (m.To == "") == (m.Consult == ""):
			return m, fmt.Errorf("%w: transfer needs either to or consult", ErrBadMessage)
		case m.Consult == m.Call:
			return m, fmt.Errorf("%w: transfer of a call to itself", ErrBadMessage)
		case m.To != "" && !validTarget(m.To):
			return m, fmt.Errorf("%w: transfer target %.40q", ErrBadMessage, m.To)
		}
	case MsgDTMF:
		if m.Call == "" {
			return m, fmt.Errorf("%w: dtmf without call", ErrBadMessage)
		}
		d, ok := normalDigits(m.Digits)
		if !ok {
			return m, fmt.Errorf("%w: dtmf digits %.40q: want 1 to %d of 0-9 * # A-D", ErrBadMessage, m.Digits, maxDigits)
		}
		m.Digits = d
	default:
		return m, fmt.Errorf("%w: unknown type %.40q", ErrBadMessage, m.Type)
	}
	return m, nil
}

// validTarget reports whether a dialled number or URI is safe to put into
// a SIP request: no line breaks, no URI delimiters, no spaces.
func validTarget(to string) bool {
	return len(to) <= maxTarget && !strings.ContainsAny(to, "\r\n\x00<>\" ")
}

// validClientID reports whether id may be echoed: short and printable.
func validClientID(id string) bool {
	if len(id) > maxClientID {
		return false
	}
	for _, r := range id {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// normalDigits checks DTMF digits (RFC 4733 section 3.2 events 0-15) and
// writes A-D in capitals.
func normalDigits(s string) (string, bool) {
	if s == "" || len(s) > maxDigits {
		return "", false
	}
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r == '*', r == '#', r >= 'A' && r <= 'D', r >= 'a' && r <= 'd':
		default:
			return "", false
		}
	}
	return strings.ToUpper(s), true
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
	if s := statusWords(ev.Status); s != "" {
		return s
	}
	if ev.Text != "" {
		return "The call failed: " + ev.Text
	}
	return "The call failed"
}

// statusWords puts a final SIP status into plain words; "" when it has
// none of its own.
func statusWords(status int) string {
	switch status {
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
	return ""
}
