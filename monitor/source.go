package monitor

import (
	"context"
	"time"
)

// Source is a phone system Switchboard watches. Run connects, keeps the
// connection alive (reconnect with backoff, health check, resync) and feeds
// the sink until ctx ends; it returns nil on a clean stop.
type Source interface {
	Name() SourceName
	Run(ctx context.Context, sink Sink) error
}

// Sink receives what sources observe. The hub implements it. Every method
// returns quickly and never blocks on a subscriber.
type Sink interface {
	// Call publishes a call as it now is.
	Call(c Call)
	// SourceStatus publishes a change of a source's connection state.
	SourceStatus(s SourceStatus)
	// UserEvent passes a source's custom event (Asterisk UserEvent, a
	// FreeSWITCH CUSTOM event) on to subscribers.
	UserEvent(e UserEvent)
}

// LinkState is the state of a source's connection.
type LinkState string

// Link states. Softphone accounts use the registration states.
const (
	LinkConnecting LinkState = "connecting"
	LinkConnected  LinkState = "connected"
	LinkResyncing  LinkState = "resyncing"
	LinkDown       LinkState = "down"
	LinkStopped    LinkState = "stopped"

	LinkRegistering LinkState = "registering"
	LinkRegistered  LinkState = "registered"
	LinkFailed      LinkState = "failed"
	LinkRetrying    LinkState = "retrying"
)

// Up reports whether the link currently delivers events.
func (s LinkState) Up() bool {
	return s == LinkConnected || s == LinkResyncing || s == LinkRegistered
}

// Action is a call-control action a source can perform.
type Action string

// Actions.
const (
	ActionHangup    Action = "hangup"
	ActionTransfer  Action = "transfer"
	ActionOriginate Action = "originate"

	// ActionQueuePause pauses and unpauses a queue member.
	ActionQueuePause Action = "queue-pause"
	// ActionQueueAdd logs a member into a queue.
	ActionQueueAdd Action = "queue-add"
	// ActionQueueRemove logs a member out of a queue.
	ActionQueueRemove Action = "queue-remove"
)

// SourceStatus is what subscribers see of a source.
type SourceStatus struct {
	Name SourceName `json:"name"`
	// Type is the configured type: fritz, ami, esl, esl-outbound, sip, demo.
	Type  string    `json:"type"`
	State LinkState `json:"state"`
	// Address is the peer's address (never credentials).
	Address string `json:"address,omitempty"`
	// Error is the last error in plain words, kept while State is down,
	// failed or retrying.
	Error string    `json:"error,omitempty"`
	Since time.Time `json:"since"`
	// Actions lists the call-control actions the source offers.
	Actions []Action `json:"actions,omitempty"`
	// Subscriptions are a softphone account's busy-lamp subscriptions
	// (SIP SUBSCRIBE to the dialog event package), in config order.
	Subscriptions []SubscriptionStatus `json:"subscriptions,omitempty"`
	// Node is, in a cluster, the node that connects a leased source (the
	// lease holder whose source said this); empty on a single node and
	// for sources every node runs.
	Node string `json:"node,omitempty"`
}

// SubscriptionState is where a busy-lamp subscription is.
type SubscriptionState string

// Subscription states.
const (
	// SubscriptionSubscribing: a SUBSCRIBE is out, no answer yet.
	SubscriptionSubscribing SubscriptionState = "subscribing"
	// SubscriptionPending: accepted, the notifier has not authorised it
	// yet (RFC 6665 pending).
	SubscriptionPending SubscriptionState = "pending"
	// SubscriptionActive: NOTIFYs flow.
	SubscriptionActive SubscriptionState = "active"
	// SubscriptionRetrying: it failed or was ended, and is tried again.
	SubscriptionRetrying SubscriptionState = "retrying"
	// SubscriptionFailed: the notifier refused it (rejected, no such
	// resource, forbidden): not tried again until the account registers
	// anew.
	SubscriptionFailed SubscriptionState = "failed"
	// SubscriptionStopped: ended on shutdown.
	SubscriptionStopped SubscriptionState = "stopped"
)

// SubscriptionStatus is what subscribers see of one busy-lamp
// subscription.
type SubscriptionStatus struct {
	// Target is the watched URI.
	Target string            `json:"target"`
	State  SubscriptionState `json:"state"`
	// Error is why it is retrying or failed, in plain words.
	Error string    `json:"error,omitempty"`
	Since time.Time `json:"since"`
}

// UserEvent is a source-defined event passed through unchanged.
type UserEvent struct {
	Source SourceName        `json:"source"`
	Name   string            `json:"name"`
	Fields map[string]string `json:"fields,omitempty"`
	At     time.Time         `json:"at"`
}

// Controller is implemented by sources that can act on calls. A source
// that cannot do an action returns ErrUnsupported and does not list it in
// its status.
type Controller interface {
	Hangup(ctx context.Context, id CallID) error
	Transfer(ctx context.Context, id CallID, to string) error
	// Originate rings from, and when it answers, connects it to to
	// (click-to-dial). It returns once the source has accepted the request.
	Originate(ctx context.Context, from, to string) error
}

// QueueController is implemented by sources that can change who takes a
// queue's calls. Queue is the queue's name at the PBX (Queue.Name), member
// a member's interface (QueueMember.Interface). A source lists the ones
// it offers (ActionQueuePause, ActionQueueAdd, ActionQueueRemove) in its
// status and returns ErrUnsupported for the others.
type QueueController interface {
	// PauseMember pauses member in queue (paused true) or unpauses it;
	// reason says why, where the PBX keeps one.
	PauseMember(ctx context.Context, queue, member string, paused bool, reason string) error
	// AddMember logs member into queue; name is its display name, empty
	// for none.
	AddMember(ctx context.Context, queue, member, name string) error
	// RemoveMember logs member out of queue.
	RemoveMember(ctx context.Context, queue, member string) error
}
