//go:build !linux

package web

// backlog cannot tell the kernel's queue here: the stream relies on its
// write deadline and the hub's bounded queue alone.
func (c *eventConn) backlog() (queued, sndbuf int, ok bool) { return 0, 0, false }
