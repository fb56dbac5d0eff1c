//go:build !linux

package rawudp

import (
	"net"
	"net/netip"
)

// sys elsewhere is the standard library's I/O.
type sys struct{}

func (s *sys) init(*net.UDPConn) {}

// ReadFromUDPAddrPort is the standard library's.
func (c *Conn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.UDPConn.ReadFromUDPAddrPort(b)
}

// WriteToUDPAddrPort is the standard library's.
func (c *Conn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.UDPConn.WriteToUDPAddrPort(b, addr)
}

// raw reports whether c's I/O is raw: never here.
func (c *Conn) raw() bool { return false }
