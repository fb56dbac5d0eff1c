// Package ami follows an Asterisk over the Asterisk Manager Interface
// (AMI).
//
// Start with [Reader]: it turns the byte stream of a manager connection
// (the banner line, then blocks of "Key: Value" lines each ended by an
// empty line) into [Message] values, with no I/O policy of its own. [Conn]
// logs in and matches actions to responses by ActionID, [Tracker] maps
// events onto the shared call model (and, in state.go, extension.go and
// queuestate.go, the hints, devices, presence and queues onto extensions
// and queues), and [Source] runs it all on monitor.Link, the connection
// loop every source shares.
package ami
