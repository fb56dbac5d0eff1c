// Package monitor holds Switchboard's one model of telephone calls, the
// tracker that is the single writer of a source's calls, the event
// envelope every change travels in, and the hub that fans every change out
// to subscribers.
//
// Start with [Call] (what a call is), then [Tracker] (how a source turns its
// protocol's events into calls), [Event] (the envelope: its kinds, in one
// table, and its JSON form, shared by /events, webhooks, replay and other
// nodes) and [Hub] (how changes reach wallboards, history and webhooks:
// the state of every kept kind, snapshots, resume). Durable consumers, which
// must see every event but do slow I/O, take them through an [Outbox].
// Sources live in sub-packages (monitor/fritz, monitor/ami, monitor/esl)
// and implement [Source]; the networked ones run on [Link], the one
// connection loop (reconnect, status, the calls of a lost link), and give
// it only their [Protocol] and [Session]. A source whose own ids repeat
// takes call keys from a [KeyAllocator]; after a crash, a [Restart] in
// front of the hub hands the calls the last run left active to the
// sources of this one.
//
// Beside calls the hub keeps [Extension]s (busy lamps) and [Queue]s, each
// source writing them through an [ExtensionTracker] and a [QueueTracker]
// and publishing them as a [Publisher]; [Names] in front of the hub names
// parties from a phonebook ([NameLookup]).
//
// The package knows nothing of HTTP, SIP or WebRTC.
package monitor
