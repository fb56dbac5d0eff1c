package web

import "golang.org/x/sys/unix"

// backlog reports how many bytes the kernel holds for the client, sent
// but not acknowledged or not sent yet, and the socket's send buffer;
// ok is false when it cannot tell.
func (c *eventConn) backlog() (queued, sndbuf int, ok bool) {
	if c.raw == nil {
		return 0, 0, false
	}
	var err1, err2 error
	err := c.raw.Control(func(fd uintptr) {
		queued, err1 = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		sndbuf, err2 = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	})
	return queued, sndbuf, err == nil && err1 == nil && err2 == nil
}
