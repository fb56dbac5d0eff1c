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
	// ErrCommandFailed: FreeSWITCH answered a command with -ERR.
	ErrCommandFailed = errors.New("command failed")
	// ErrTooLarge: a message exceeds the reader's limits.
	ErrTooLarge = errors.New("event socket message too large")
)
