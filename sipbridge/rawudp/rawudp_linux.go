package rawudp

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sys is the Linux implementation: recvfrom and sendto as raw system
// calls inside syscall.RawConn's Read and Write, which wait in the poller
// when the socket would block (the function returns false for EAGAIN).
type sys struct {
	rc    syscall.RawConn
	inet6 bool // an AF_INET6 socket: addresses are sent in 16 bytes

	rmu    sync.Mutex
	rbuf   []byte
	rsa    unix.RawSockaddrAny
	rsaLen uint32
	rn     int
	rerr   syscall.Errno
	readFn func(uintptr) bool
	// rzone is the last link-local source's interface (index, name), so
	// that a peer on one does not cost an interface lookup per packet.
	rzoneID   uint32
	rzoneName string

	wmu     sync.Mutex
	wbuf    []byte
	wsa4    unix.RawSockaddrInet4
	wsa6    unix.RawSockaddrInet6
	wsa     unsafe.Pointer
	wsaLen  uintptr
	wn      int
	werr    syscall.Errno
	writeFn func(uintptr) bool
	// wzone is the last zone sent to and its interface index, as rzone.
	wzoneName string
	wzoneID   uint32
}

// init reaches c's descriptor; without it (rc nil) the standard
// library's I/O is used.
func (s *sys) init(c *net.UDPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	var sa unix.Sockaddr
	var serr error
	if err := rc.Control(func(fd uintptr) { sa, serr = unix.Getsockname(int(fd)) }); err != nil || serr != nil {
		return
	}
	_, s.inet6 = sa.(*unix.SockaddrInet6)
	s.readFn = s.read
	s.writeFn = s.write
	s.rc = rc
}

func (s *sys) read(fd uintptr) bool {
	s.rsaLen = uint32(unsafe.Sizeof(s.rsa))
	var p unsafe.Pointer
	if len(s.rbuf) > 0 {
		p = unsafe.Pointer(&s.rbuf[0])
	}
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(p), uintptr(len(s.rbuf)), 0,
		uintptr(unsafe.Pointer(&s.rsa)), uintptr(unsafe.Pointer(&s.rsaLen)))
	switch e {
	case unix.EAGAIN:
		return false
	case unix.EINTR:
		return s.read(fd)
	}
	s.rn, s.rerr = int(n), e
	return true
}

func (s *sys) write(fd uintptr) bool {
	var p unsafe.Pointer
	if len(s.wbuf) > 0 {
		p = unsafe.Pointer(&s.wbuf[0])
	}
	n, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(p), uintptr(len(s.wbuf)), 0, uintptr(s.wsa), s.wsaLen)
	switch e {
	case unix.EAGAIN:
		return false
	case unix.EINTR:
		return s.write(fd)
	}
	s.wn, s.werr = int(n), e
	return true
}

// ReadFromUDPAddrPort reads one datagram into b, as the standard
// library's does.
func (c *Conn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	s := &c.sys
	if s.rc == nil {
		return c.UDPConn.ReadFromUDPAddrPort(b)
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.rbuf = b
	err := s.rc.Read(s.readFn)
	s.rbuf = nil
	if err != nil {
		return 0, netip.AddrPort{}, c.opError("read", netip.AddrPort{}, err)
	}
	if s.rerr != 0 {
		return 0, netip.AddrPort{}, c.opError("read", netip.AddrPort{}, os.NewSyscallError("recvfrom", s.rerr))
	}
	return s.rn, s.from(), nil
}

// from is the source address of the datagram read last.
func (s *sys) from() netip.AddrPort {
	switch s.rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&s.rsa))
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			if sa.Scope_id != s.rzoneID || s.rzoneName == "" {
				s.rzoneID, s.rzoneName = sa.Scope_id, zone(sa.Scope_id)
			}
			a = a.WithZone(s.rzoneName)
		}
		return netip.AddrPortFrom(a, port(sa.Port))
	}
	return netip.AddrPort{}
}

// port is a sockaddr's port, which the kernel keeps in network order.
func port(p uint16) uint16 {
	return binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&p))[:])
}

// setPort stores v in network order.
func setPort(p *uint16, v uint16) {
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(p))[:], v)
}

// zone is the name of interface index i (link-local addresses only).
func zone(i uint32) string {
	if ifi, err := net.InterfaceByIndex(int(i)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(i), 10)
}

var errNotIPv4 = errors.New("non-IPv4 address")

// WriteToUDPAddrPort sends b to addr, as the standard library's does.
func (c *Conn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	s := &c.sys
	if s.rc == nil {
		return c.UDPConn.WriteToUDPAddrPort(b, addr)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if !addr.IsValid() {
		return 0, c.opError("write", addr, errors.New("invalid address"))
	}
	ip := addr.Addr()
	if s.inet6 {
		s.wsa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ip.As16()}
		if z := ip.Zone(); z != "" {
			if z != s.wzoneName {
				s.wzoneName, s.wzoneID = z, 0
				if ifi, err := net.InterfaceByName(z); err == nil {
					s.wzoneID = uint32(ifi.Index)
				}
			}
			s.wsa6.Scope_id = s.wzoneID
		}
		setPort(&s.wsa6.Port, addr.Port())
		s.wsa, s.wsaLen = unsafe.Pointer(&s.wsa6), unsafe.Sizeof(s.wsa6)
	} else {
		ip = ip.Unmap()
		if !ip.Is4() {
			return 0, c.opError("write", addr, &net.AddrError{Err: errNotIPv4.Error(), Addr: ip.String()})
		}
		s.wsa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip.As4()}
		setPort(&s.wsa4.Port, addr.Port())
		s.wsa, s.wsaLen = unsafe.Pointer(&s.wsa4), unsafe.Sizeof(s.wsa4)
	}
	s.wbuf = b
	err := s.rc.Write(s.writeFn)
	s.wbuf = nil
	if err != nil {
		return 0, c.opError("write", addr, err)
	}
	if s.werr != 0 {
		return 0, c.opError("write", addr, os.NewSyscallError("sendto", s.werr))
	}
	return s.wn, nil
}

// raw reports whether c's I/O is raw.
func (c *Conn) raw() bool { return c.rc != nil }
