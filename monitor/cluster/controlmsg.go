package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/switchboard/switchboard/monitor"
)

// A call-control action asked on a node that does not connect the source
// travels to the node that does as one NATS request on
//
//	switchboard.control.SOURCE
//
// (SOURCE escaped with Token; outside the stream's subjects, so nothing
// of it is stored). The request and the reply are small JSON objects,
// "v": 1. A node answers a version it does not know with an error
// instead of guessing.
const (
	controlPrefix = "switchboard.control."
	// controlVersion is the version of the request and reply written.
	controlVersion = 1
	// maxControlMsg bounds a request or reply read; the largest real one
	// is a few hundred bytes.
	maxControlMsg = 16 << 10
	// maxControlField bounds one text field of a request.
	maxControlField = 1024
	// maxControlTimeout bounds how long the owner works on one request,
	// whatever the asker says.
	maxControlTimeout = time.Minute
)

// ErrBadControl is returned for a call-control request or reply that
// cannot be read: not JSON, another version, an unknown action, a field
// missing or too long.
var ErrBadControl = errors.New("malformed call-control message")

// ControlSubject is the subject the owner of source answers its
// call-control requests on.
func ControlSubject(source monitor.SourceName) string {
	return controlPrefix + Token(string(source))
}

// controlRequest is one action for the owner of Source to carry out.
// Which fields are set depends on Op.
type controlRequest struct {
	V int `json:"v"`
	// Op is the action: hangup, transfer, originate, queue-pause,
	// queue-add, queue-remove.
	Op     monitor.Action     `json:"op"`
	Source monitor.SourceName `json:"source"`
	// Node is the asking node, for the owner's log.
	Node string `json:"node"`
	// TimeoutMS is how long the asker waits, from when it sent the
	// request (clocks of two nodes may differ; a duration does not).
	TimeoutMS int64 `json:"timeout_ms"`
	// Call: hangup, transfer.
	Call monitor.CallID `json:"call,omitempty"`
	// To: transfer, originate. From: originate.
	To   string `json:"to,omitempty"`
	From string `json:"from,omitempty"`
	// Queue and Member: queue actions; Paused and Reason: queue-pause;
	// Name: queue-add.
	Queue  string `json:"queue,omitempty"`
	Member string `json:"member,omitempty"`
	Paused bool   `json:"paused,omitempty"`
	Reason string `json:"reason,omitempty"`
	Name   string `json:"name,omitempty"`
}

// target is what the request acts on, in words, for the logs.
func (r controlRequest) target() string {
	switch r.Op {
	case monitor.ActionHangup:
		return string(r.Call)
	case monitor.ActionTransfer:
		return string(r.Call) + " to " + r.To
	case monitor.ActionOriginate:
		return r.From + " to " + r.To
	case monitor.ActionQueuePause:
		return fmt.Sprintf("%s %s paused=%t", r.Queue, r.Member, r.Paused)
	}
	return r.Queue + " " + r.Member
}

// timeout is how long the owner works on the request: a little less than
// the asker waits, so that the owner's own answer (a PBX that did not
// answer in time, in its words) arrives before the asker gives up.
func (r controlRequest) timeout() time.Duration {
	d := time.Duration(min(r.TimeoutMS, maxControlTimeout.Milliseconds())) * time.Millisecond
	return d - min(d/10, 250*time.Millisecond)
}

// decodeControlRequest reads a request, or returns ErrBadControl.
func decodeControlRequest(b []byte) (controlRequest, error) {
	var r controlRequest
	if err := decodeControlJSON(b, &r); err != nil {
		return controlRequest{}, err
	}
	if r.V != controlVersion {
		return controlRequest{}, fmt.Errorf("%w: version %d, want %d", ErrBadControl, r.V, controlVersion)
	}
	if r.TimeoutMS <= 0 {
		return controlRequest{}, fmt.Errorf("%w: timeout_ms %d", ErrBadControl, r.TimeoutMS)
	}
	var need []string
	switch r.Op {
	case monitor.ActionHangup:
		need = []string{string(r.Call)}
	case monitor.ActionTransfer:
		need = []string{string(r.Call), r.To}
	case monitor.ActionOriginate:
		need = []string{r.From, r.To}
	case monitor.ActionQueuePause, monitor.ActionQueueAdd, monitor.ActionQueueRemove:
		need = []string{r.Queue, r.Member}
	default:
		return controlRequest{}, fmt.Errorf("%w: unknown action %q", ErrBadControl, clipText(string(r.Op)))
	}
	for _, v := range need {
		if v == "" {
			return controlRequest{}, fmt.Errorf("%w: %s without a field it needs", ErrBadControl, r.Op)
		}
	}
	for _, v := range []string{string(r.Source), r.Node, string(r.Call), r.To, r.From, r.Queue, r.Member, r.Reason, r.Name} {
		if len(v) > maxControlField || !utf8.ValidString(v) {
			return controlRequest{}, fmt.Errorf("%w: a field longer than %d bytes or not UTF-8", ErrBadControl, maxControlField)
		}
	}
	return r, nil
}

// decodeControlJSON decodes one JSON object of at most maxControlMsg
// bytes into v. Unknown fields are ignored: a newer node of the same
// version may send one more.
func decodeControlJSON(b []byte, v any) error {
	if len(b) > maxControlMsg {
		return fmt.Errorf("%w: %d bytes", ErrBadControl, len(b))
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrBadControl, err)
	}
	if d.More() {
		return fmt.Errorf("%w: data after the object", ErrBadControl)
	}
	return nil
}

// controlReply is the owner's answer: Error empty for done, else the
// error's words and its classes.
type controlReply struct {
	V int `json:"v"`
	// Node is the answering node.
	Node  string `json:"node"`
	Error string `json:"error,omitempty"`
	// Is names what the error is (errorClasses), so that errors.Is
	// holds on the asking node as on the owner.
	Is []string `json:"is,omitempty"`
}

// errorClasses are the classes an error can carry across: the ones the
// web API maps to its answers.
var errorClasses = []struct {
	name string
	err  error
}{
	{"refused", monitor.ErrRefused},
	{"no-such-call", monitor.ErrNoSuchCall},
	{"unsupported", monitor.ErrUnsupported},
	{"not-connected", monitor.ErrNotConnected},
	{"action-lost", monitor.ErrActionLost},
	{"timeout", context.DeadlineExceeded},
	{"canceled", context.Canceled},
	{"no-owner", ErrNoOwner},
}

// replyOf is the reply carrying err (nil: done).
func replyOf(node string, err error) controlReply {
	r := controlReply{V: controlVersion, Node: node}
	if err == nil {
		return r
	}
	r.Error = err.Error()
	if r.Error == "" {
		r.Error = "failed"
	}
	for _, c := range errorClasses {
		if errors.Is(err, c.err) {
			r.Is = append(r.Is, c.name)
		}
	}
	return r
}

// decodeControlReply reads a reply, or returns ErrBadControl.
func decodeControlReply(b []byte) (controlReply, error) {
	var r controlReply
	if err := decodeControlJSON(b, &r); err != nil {
		return controlReply{}, err
	}
	if r.V != controlVersion {
		return controlReply{}, fmt.Errorf("%w: version %d, want %d", ErrBadControl, r.V, controlVersion)
	}
	if len(r.Is) > len(errorClasses) || len(r.Error) > maxControlMsg || !utf8.ValidString(r.Error) || !utf8.ValidString(r.Node) {
		return controlReply{}, fmt.Errorf("%w: reply error", ErrBadControl)
	}
	if len(r.Is) > 0 && r.Error == "" {
		return controlReply{}, fmt.Errorf("%w: error classes without words", ErrBadControl)
	}
	return r, nil
}

// err is the reply's error: nil for done, else one with the owner's words
// that errors.Is matches against each class it names. A class this node
// does not know is left out.
func (r controlReply) err() error {
	if r.Error == "" {
		return nil
	}
	e := &remoteError{text: r.Error}
	for _, name := range r.Is {
		for _, c := range errorClasses {
			if c.name == name {
				e.is = append(e.is, c.err)
			}
		}
	}
	return e
}

// remoteError is an error the owning node returned: its words, and what
// it is.
type remoteError struct {
	text string
	is   []error
}

func (e *remoteError) Error() string   { return e.text }
func (e *remoteError) Unwrap() []error { return e.is }

// clipText shortens s for an error message.
func clipText(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
