// Package fritztest is a Fritz!Box call monitor for tests: a real TCP
// server on 127.0.0.1 that sends the lines a test gives it to every
// connected client, and can reboot, go away and come back on the same
// port, or go silent (the plumbing is monitortest.Server's).
package fritztest

import (
	"net"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor/monitortest"
)

// Server is a call-monitor stand-in. Besides Send it has the connection
// plumbing of monitortest.Server: Addr, Accepted, Conns, WaitConn,
// WaitAccepted, CloseConns (a router reboot), Stop, Hang (a router that
// died without closing anything), Restart and Close. Its methods are safe
// for concurrent use; it stops itself when the test ends.
type Server struct {
	*monitortest.Server
}

// New starts a server on 127.0.0.1:0 and stops it at the end of the test.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{monitortest.NewServer(t, nil)}
	s.Serve(drain)
	return s
}

// drain reads (and discards) what a client sends, so a closed client is
// forgotten; a call-monitor client sends nothing.
func drain(c net.Conn) {
	var buf [256]byte
	for {
		if _, err := c.Read(buf[:]); err != nil {
			return
		}
	}
}

// Send writes line, with "\r\n" added unless it ends in "\n", to every
// connected client. It returns how many clients got it.
func (s *Server) Send(line string) int {
	if !strings.HasSuffix(line, "\n") {
		line += "\r\n"
	}
	return s.SendRaw([]byte(line))
}

// SendRaw writes b as it is to every connected client (half a line, two
// lines at once). It returns how many clients got it.
func (s *Server) SendRaw(b []byte) int { return s.WriteAll(b) }
