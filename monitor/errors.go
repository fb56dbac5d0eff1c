package monitor

import "errors"

var (
	// ErrUnsupported is returned by a Controller for an action its source
	// cannot perform.
	ErrUnsupported = errors.New("action not supported by this source")
	// ErrNoSuchCall is returned for an action on a call that is not active,
	// also when the PBX itself says it has no such call or channel.
	ErrNoSuchCall = errors.New("no such active call")
	// ErrNotConnected is returned when a source's link is down.
	ErrNotConnected = errors.New("source not connected")
	// ErrRefused is returned, wrapped with the PBX's own words, when the
	// PBX answered a call-control action with an error (AMI "Response:
	// Error", ESL "-ERR …"): the request reached it and it said no.
	ErrRefused = errors.New("refused by the PBX")
	// ErrActionLost is returned when the link to the PBX broke while an
	// action was waiting for its answer: whether the PBX carried it out
	// is unknown.
	ErrActionLost = errors.New("link to the PBX lost before it answered")
	// ErrInvalidConfig is wrapped by LinkConfig.Validate and by the
	// sources' Validate for a configuration that cannot work.
	ErrInvalidConfig = errors.New("invalid source configuration")
	// ErrHubClosed is returned by Subscribe and Publish after the hub was
	// closed.
	ErrHubClosed = errors.New("hub closed")
	// ErrStaleSeq is returned by Hub.PublishSeq for a change numbered no
	// higher than one the hub already has.
	ErrStaleSeq = errors.New("change older than the hub's last")
	// ErrUnknownKind is returned for an event kind that is not in the kind
	// table: publishing it, encoding it, or decoding an envelope that
	// names it (a newer node's kind, say).
	ErrUnknownKind = errors.New("unknown event kind")
	// ErrBadEnvelope is returned when an event or snapshot cannot be
	// encoded or decoded: a missing payload, a payload of the wrong type
	// for its kind, malformed JSON.
	ErrBadEnvelope = errors.New("malformed event envelope")
	// ErrOutboxFull is what an Outbox hands its unhandled function for an
	// event that did not fit in its queue.
	ErrOutboxFull = errors.New("outbox queue full")
	// ErrOutboxClosed is what an Outbox hands its unhandled function for
	// an event offered after Close, or left in the queue when Close's ctx
	// ended.
	ErrOutboxClosed = errors.New("outbox closed")
)
