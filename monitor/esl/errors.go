package esl

import "errors"

// Errors a connection reports; wrapped with context, test with errors.Is.
var (
	// ErrAuth: FreeSWITCH refused the event socket password.
	ErrAuth = errors.New("event socket password refused")
	// ErrRejected: FreeSWITCH's event socket ACL (apply-inbound-acl) turned
	// the connection away with text/rude-rejection.
	ErrRejected = errors.New("connection rejected by the event socket ACL")
	// ErrClosed: the connection is closed.
	ErrClosed = errors.New("event socket connection closed")
	// ErrCommandFailed: FreeSWITCH answered a command with -ERR; it
	// comes wrapped with monitor.ErrRefused and FreeSWITCH's words.
	ErrCommandFailed = errors.New("command failed")
	// ErrTooLarge: a message exceeds the reader's limits; the reader
	// skipped it and is still in step.
	ErrTooLarge = errors.New("event socket message too large")
	// ErrMalformed: a message has a header line that is not
	// "Name: value"; the reader skipped it and is still in step.
	ErrMalformed = errors.New("malformed event socket message")
	// ErrFraming: the reader cannot tell where the next message starts
	// (an unreadable or absurd Content-Length): the stream is lost and
	// the link must be dropped.
	ErrFraming = errors.New("event socket framing lost")
	// ErrNoCallcenter: FreeSWITCH answered a callcenter_config list with
	// an error (mod_callcenter is not loaded): it has no queues to show.
	ErrNoCallcenter = errors.New("no mod_callcenter queues")
)
