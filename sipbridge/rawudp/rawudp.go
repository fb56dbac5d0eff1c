// Package rawudp reads and writes datagrams on a UDP socket with raw
// system calls where the platform allows it (Linux), and through the
// standard library elsewhere.
//
// Why: a media relay makes a few system calls for every 20 ms packet of
// every call, each on a non-blocking socket that never waits in the
// kernel. Through the standard library each one enters the runtime's
// syscall state, which wakes the runtime's monitor thread whenever the
// process was idle and lets it hand the caller's P to another thread for
// a call that outlasts its 20 µs tick: at a hundred calls on one core the
// thread switches that follow cost more than the packets' own work in
// user space (README "Media path at load"). A raw call keeps the P; a
// socket with nothing to read, or no room, waits in the runtime's poller
// (syscall.RawConn) as before, so deadlines and Close still work.
package rawudp

import (
	"net"
	"net/netip"
)

// Conn is a UDP socket whose ReadFromUDPAddrPort and WriteToUDPAddrPort
// (and the same as ReadFromAddrPort and WriteToAddrPort, the form pion's
// ICE agent looks for) are raw system calls. Everything else is the
// embedded *net.UDPConn's. Reads are one at a time, and so are writes:
// each direction keeps its buffer and address in the Conn, so that a
// packet costs no allocation.
type Conn struct {
	*net.UDPConn
	sys
}

// New wraps c. Should its descriptor be out of reach (never for a socket
// from net.ListenUDP), the standard library's I/O is used.
func New(c *net.UDPConn) *Conn {
	rc := &Conn{UDPConn: c}
	rc.init(c)
	return rc
}

// ReadFromAddrPort is ReadFromUDPAddrPort.
func (c *Conn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.ReadFromUDPAddrPort(b)
}

// WriteToAddrPort is WriteToUDPAddrPort.
func (c *Conn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.WriteToUDPAddrPort(b, addr)
}

// opError is the error the standard library would return for err.
func (c *Conn) opError(op string, addr netip.AddrPort, err error) error {
	e := &net.OpError{Op: op, Net: "udp", Source: c.LocalAddr(), Err: err}
	if addr.IsValid() {
		e.Addr = net.UDPAddrFromAddrPort(addr)
	}
	return e
}
