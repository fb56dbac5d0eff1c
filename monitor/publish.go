package monitor

// Publisher is a Sink that also takes payloads of any kind in the kind
// table (extensions, queues): the hub, a Restart in front of it, the
// replay's printer. A source asks its sink for it (sink.(Publisher));
// under a sink without it, the source keeps its extensions and queues to
// itself.
type Publisher interface {
	// Publish publishes p; the caller must not change p afterwards. It
	// returns ErrUnknownKind or ErrBadEnvelope for a payload the kind
	// table does not take, ErrHubClosed after the hub closed.
	Publish(p Payload) error
}

var (
	_ Publisher = (*Hub)(nil)
	_ Publisher = (*Restart)(nil)
)

// PublisherOf returns sink as a Publisher, or nil when it is none.
func PublisherOf(sink Sink) Publisher {
	p, _ := sink.(Publisher)
	return p
}

// Publish forwards p when the sink behind takes payloads.
func (r *Restart) Publish(p Payload) error {
	if pub := PublisherOf(r.sink); pub != nil {
		return pub.Publish(p)
	}
	return nil
}
