// Package esl follows a FreeSWITCH switch over its event socket (ESL), in
// both of the socket's modes: inbound, where Switchboard connects to
// mod_event_socket (port 8021) and subscribes to channel events, and
// outbound, where the dialplan's `socket` application connects to
// Switchboard once per call. Either way the channel events are turned into
// the shared call model by a Tracker (which, in state.go, also makes users
// extensions and mod_callcenter's queues queues), and the inbound source
// also acts on calls (uuid_kill, uuid_transfer, bgapi originate).
//
// Commands are built with github.com/percipia/eslgo's command package and
// replies are its RawResponse. The connection is Switchboard's own
// (eslgo v1.4.1 drops the body of text/event-json events, dials without a
// context, and cannot stop its outbound listener), and the inbound source
// runs on monitor.Link, the connection loop every source shares.
package esl
