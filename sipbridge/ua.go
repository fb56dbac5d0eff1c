package sipbridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// sipStack is the sipgo user agent shared by all accounts: one UDP socket
// and one TCP listener on Config.Listen, a server for incoming requests
// and one client per transport.
type sipStack struct {
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	udp    *sipgo.Client
	tcp    *sipgo.Client
	udpC   net.PacketConn
	tcpL   net.Listener
	host   string // announced in Via and Contact
	port   int    // the listen port, UDP and TCP
	serves sync.WaitGroup
	closed sync.Once
}

// listenAttempts bounds the ports tried when the port is the kernel's
// choice (listen port 0) and the UDP port it picked is taken for TCP.
const listenAttempts = 8

// listenPacketFunc opens a UDP socket, as net.ListenConfig.ListenPacket
// does; tests replace it to force a port collision.
type listenPacketFunc func(ctx context.Context, network, address string) (net.PacketConn, error)

// listenSIP opens the UDP socket and the TCP listener on one port of host:
// the Contact and Via name a single port for both (RFC 3261 section 18).
// With port "0" the kernel picks a free UDP port, which another program may
// hold for TCP; then both are released and a fresh port is tried, up to
// listenAttempts times. A configured port that is taken is an error at once.
func listenSIP(ctx context.Context, host, port string, listenUDP listenPacketFunc) (net.PacketConn, net.Listener, error) {
	tries := 1
	if port == "0" {
		tries = listenAttempts
	}
	var lc net.ListenConfig
	var err error
	for range tries {
		if cerr := ctx.Err(); cerr != nil {
			return nil, nil, cerr
		}
		var udpC net.PacketConn
		udpC, err = listenUDP(ctx, "udp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, nil, fmt.Errorf("sip listen udp %s: %w", net.JoinHostPort(host, port), err)
		}
		la, ok := udpC.LocalAddr().(*net.UDPAddr)
		if !ok || (port != "0" && port != strconv.Itoa(la.Port)) {
			udpC.Close()
			return nil, nil, fmt.Errorf("sip listen udp %s: bound to %s", net.JoinHostPort(host, port), udpC.LocalAddr())
		}
		addr := net.JoinHostPort(host, strconv.Itoa(la.Port))
		var tcpL net.Listener
		tcpL, err = lc.Listen(ctx, "tcp", addr)
		if err == nil {
			return udpC, tcpL, nil
		}
		udpC.Close()
		err = fmt.Errorf("sip listen tcp %s: %w", addr, err)
	}
	if tries > 1 {
		return nil, nil, fmt.Errorf("%w (%d ports tried)", err, tries)
	}
	return nil, nil, err
}

// startStack opens the listeners and serves them until close.
func startStack(ctx context.Context, cfg Config, log *slog.Logger, handlers func(*sipgo.Server), listenUDP listenPacketFunc) (*sipStack, error) {
	lhost, lport, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("sip listen %s: %w", cfg.Listen, err)
	}
	udpC, tcpL, err := listenSIP(ctx, lhost, lport, listenUDP)
	if err != nil {
		return nil, err
	}
	port := udpC.LocalAddr().(*net.UDPAddr).Port
	host := cfg.ExternalHost
	if host == "" {
		host = lhost
	}
	s := &sipStack{udpC: udpC, tcpL: tcpL, host: host, port: port}
	fail := func(err error) (*sipStack, error) {
		if s.ua != nil {
			s.ua.Close()
		}
		udpC.Close()
		tcpL.Close()
		return nil, err
	}
	s.ua, err = sipgo.NewUA(sipgo.WithUserAgent(cfg.UserAgent), sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log)))
	if err != nil {
		return fail(fmt.Errorf("sip user agent: %w", err))
	}
	s.srv, err = sipgo.NewServer(s.ua, sipgo.WithServerLogger(log))
	if err != nil {
		return fail(fmt.Errorf("sip server: %w", err))
	}
	// UDP requests leave from the listening socket, so that responses and
	// in-dialog requests reach the address the registrar knows.
	s.udp, err = sipgo.NewClient(s.ua, sipgo.WithClientLogger(log), sipgo.WithClientHostname(host), sipgo.WithClientPort(port),
		sipgo.WithClientConnectionAddr(udpC.LocalAddr().String()))
	if err != nil {
		return fail(fmt.Errorf("sip udp client: %w", err))
	}
	s.tcp, err = sipgo.NewClient(s.ua, sipgo.WithClientLogger(log), sipgo.WithClientHostname(host))
	if err != nil {
		return fail(fmt.Errorf("sip tcp client: %w", err))
	}
	handlers(s.srv)
	served := &servedConn{PacketConn: udpC, reading: make(chan struct{})}
	udpEnded := make(chan error, 1)
	s.serves.Add(2)
	go func() {
		defer s.serves.Done()
		err := s.srv.ServeUDP(served)
		if err != nil && !errors.Is(err, net.ErrClosed) {
			log.Debug("sip udp serve ended", "err", err)
		}
		udpEnded <- err
	}()
	go func() {
		defer s.serves.Done()
		// ServeTCP returns only once its listener is closed, never nil.
		if err := s.srv.ServeTCP(tcpL); !errors.Is(err, net.ErrClosed) {
			log.Debug("sip tcp serve ended", "err", err)
		}
	}()
	// sipgo adds the socket to its connection pool just before its first
	// read; a request sent earlier would try to bind the port a second
	// time. Its own ready signal comes before that, so wait for the read,
	// unless serving ended first or the bridge is stopped meanwhile.
	select {
	case <-served.reading:
		return s, nil
	case err := <-udpEnded:
		s.close()
		if err == nil {
			err = net.ErrClosed
		}
		return nil, fmt.Errorf("sip serve udp %s: ended before its first read: %w", udpC.LocalAddr(), err)
	case <-ctx.Done():
		s.close()
		return nil, ctx.Err()
	}
}

// servedConn reports the first read of the SIP UDP socket.
type servedConn struct {
	net.PacketConn
	once    sync.Once
	reading chan struct{}
}

// ReadFrom signals the first read, then reads.
func (c *servedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.once.Do(func() { close(c.reading) })
	return c.PacketConn.ReadFrom(b)
}

// client returns the client for transport ("udp", "tcp", "tls").
func (s *sipStack) client(transport string) *sipgo.Client {
	if transport == "udp" {
		return s.udp
	}
	return s.tcp
}

// contact is this agent's Contact for user over transport (RFC 3261
// section 8.1.1.8). It names the listening port, so kamailio can reach us
// over TCP as well (it routes to the Contact as written).
func (s *sipStack) contact(user, transport string) sip.ContactHeader {
	c := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: s.host, Port: s.port}}
	if transport != "udp" {
		c.Address.UriParams = sip.NewParams()
		c.Address.UriParams.Add("transport", transport)
	}
	return c
}

// close stops serving and releases the sockets; it waits for the serve
// goroutines. It is idempotent.
func (s *sipStack) close() {
	s.closed.Do(func() {
		s.srv.Close()
		s.ua.Close()
		s.udpC.Close()
		s.tcpL.Close()
	})
	s.serves.Wait()
}
