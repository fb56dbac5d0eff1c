// Package ami reads the Asterisk Manager Interface (AMI) wire protocol.
//
// Start with [Reader]: it turns the byte stream of a manager connection
// (the banner line, then blocks of "Key: Value" lines each ended by an
// empty line) into [Message] values, with no I/O policy of its own.
package ami
