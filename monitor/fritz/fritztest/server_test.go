package fritztest

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"
)

func TestServerSendStopRestart(t *testing.T) {
	s := New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := s.WaitConn(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.Send("23.11.26 10:15:03;RING;0;1;2;SIP0;"); n != 1 {
		t.Fatalf("Send reached %d clients", n)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "23.11.26 10:15:03;RING;0;1;2;SIP0;\r\n" {
		t.Fatalf("read %q, %v", line, err)
	}

	s.Stop()
	if s.Conns() != 0 {
		t.Errorf("%d connections after Stop", s.Conns())
	}
	if c2, err := net.Dial("tcp", s.Addr()); err == nil {
		c2.Close()
		t.Fatal("a stopped server accepted a connection")
	}
	s.Restart()
	accepted := s.Accepted()
	c3, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatalf("no connection after Restart on the same port: %v", err)
	}
	defer c3.Close()
	if _, err := s.WaitAccepted(ctx, accepted); err != nil {
		t.Fatal(err)
	}

	// Hang keeps the connection open but refuses new ones.
	s.Hang()
	if c4, err := net.Dial("tcp", s.Addr()); err == nil {
		c4.Close()
		t.Fatal("a hung server accepted a connection")
	}
	if s.Conns() != 1 {
		t.Errorf("%d connections after Hang, want the open one kept", s.Conns())
	}
}
