package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/packetio"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard/switchboard/sipbridge"
	"github.com/switchboard/switchboard/sipbridge/rawudp"
)

// Browser-leg payload types registered in the MediaEngine. pion answers
// with the browser's own numbers; these only matter when pion offers first.
const (
	ptTelephoneEvent8k  = 101
	ptTelephoneEvent48k = 110
)

// mimeOf maps a codec name to its WebRTC MIME type.
func mimeOf(c sipbridge.Codec) string {
	switch strings.ToLower(c.Name) {
	case "opus":
		return webrtc.MimeTypeOpus
	case "g722":
		return webrtc.MimeTypeG722
	case "pcmu":
		return webrtc.MimeTypePCMU
	case "pcma":
		return webrtc.MimeTypePCMA
	case "telephone-event":
		return "audio/telephone-event"
	}
	return "audio/" + c.Name
}

// capability is the pion form of c.
func capability(c sipbridge.Codec) webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: mimeOf(c), ClockRate: c.ClockRate, Channels: c.ChannelCount(), SDPFmtpLine: c.Fmtp}
}

// mediaAPI is what every session's webrtc.API shares: only the
// pass-through codecs and telephone-event (RFC 4733), RTCP sender reports,
// and the network settings of cfg. A session gets an API of its own only so
// that its SRTP session hands the page's packets to that session's relay
// (see forSession); the engine and the registry are shared (pion copies
// the engine per PeerConnection and builds interceptors per connection).
type mediaAPI struct {
	me *webrtc.MediaEngine
	ir *interceptor.Registry
	se webrtc.SettingEngine
	// mux is the ICE UDP mux of cfg.UDPPort (nil without one): its sockets
	// and read loops are the gateway's, closed by close.
	mux *ice.MultiUDPMuxDefault
	// cert is the DTLS certificate of every page (certificate).
	cert dtlsCert
	// nets is the network the pages' ICE agents gather on.
	nets netCache
}

// netCache is the network (rawNet) of the sessions that start within
// netMaxAge of each other. pion reads the interfaces and their addresses
// when a network is made and keeps them for the agent's life; made per
// session, as pion makes one per agent when given none, each kept a copy
// of the kernel's whole netlink answer (≈ 4.6 KB per call: Go's
// net.Interface keeps its hardware address as a slice of it). A network
// is never changed once made, so a session keeps what it gathered on; an
// interface or address that comes or goes is seen by the sessions that
// start netMaxAge later at most.
type netCache struct {
	mu sync.Mutex
	n  transport.Net
	at time.Time
}

// netMaxAge is how long one reading of the interfaces serves new sessions.
const netMaxAge = 5 * time.Second

// get returns the network for a session starting now; nil when the
// interfaces cannot be read (pion then makes its own, with standard
// sockets).
func (c *netCache) get(now time.Time) transport.Net {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil || now.Sub(c.at) >= netMaxAge || now.Before(c.at) {
		n, err := stdnet.NewNet()
		if err != nil {
			c.n = nil
			return nil
		}
		c.n, c.at = rawNet{n}, now
	}
	return c.n
}

// dtlsCert is the DTLS certificate all PeerConnections share, as Janus
// shares one: without it pion makes a key pair and a certificate for each
// PeerConnection. Every page sees the same fingerprint; a page trusts it
// only through the signalled SDP, and the SRTP keys come from each DTLS
// handshake's own key exchange, so sharing it gives a page nothing it
// could use against another. The certificate is valid for a month, as
// pion's own; a new one is made when less than renewBefore of that is
// left, for the PeerConnections made from then on (a DTLS session already
// up does not look at the expiry again). The browser checks only that the
// certificate matches the fingerprint in the SDP, not its dates or names.
type dtlsCert struct {
	mu   sync.Mutex
	cert *webrtc.Certificate
}

// certValidity is how long a shared certificate is valid, as pion's own;
// renewBefore is how long before its expiry it is replaced.
const (
	certValidity = 30 * 24 * time.Hour
	renewBefore  = 7 * 24 * time.Hour
)

// get returns the certificate, making one first when there is none or it
// is about to expire.
func (c *dtlsCert) get(now time.Time) (webrtc.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert == nil || now.Add(renewBefore).After(c.cert.Expires()) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return webrtc.Certificate{}, fmt.Errorf("dtls key: %w", err)
		}
		// As pion's GenerateCertificate, but dated from now.
		serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
		if err != nil {
			return webrtc.Certificate{}, fmt.Errorf("dtls certificate serial: %w", err)
		}
		cert, err := webrtc.NewCertificate(k, x509.Certificate{
			SerialNumber: serial,
			Version:      2,
			Issuer:       pkix.Name{CommonName: "WebRTC"},
			Subject:      pkix.Name{CommonName: "WebRTC"},
			NotBefore:    now.Add(-24 * time.Hour),
			NotAfter:     now.Add(certValidity),
		})
		if err != nil {
			return webrtc.Certificate{}, fmt.Errorf("dtls certificate: %w", err)
		}
		c.cert = cert
	}
	return *c.cert, nil
}

// configuration is the PeerConnection configuration of a session: its ICE
// servers and the shared certificate.
func (m *mediaAPI) configuration(servers []ICEServer, now time.Time) (webrtc.Configuration, error) {
	cert, err := m.cert.get(now)
	if err != nil {
		return webrtc.Configuration{}, err
	}
	return webrtc.Configuration{ICEServers: iceServers(servers), Certificates: []webrtc.Certificate{cert}}, nil
}

// close releases what the API holds for all sessions (the UDP mux).
func (m *mediaAPI) close() error {
	if m.mux == nil {
		return nil
	}
	return m.mux.Close()
}

// newAPI is the API of a PeerConnection whose received RTP is read through
// pion's tracks (TrackRemote.Read).
func newAPI(cfg Config) (*webrtc.API, error) {
	m, err := newMediaAPI(cfg)
	if err != nil {
		return nil, err
	}
	return m.forSession(nil), nil
}

// forSession is an API whose SRTP sessions give every decrypted RTP packet
// to the writer rtp returns for its SSRC, in the SRTP session's own
// goroutine: pion's last hand-off per packet (the read stream's buffer and
// the track reader's goroutine woken for each packet) is skipped. The
// page's RTCP is dropped as it is decrypted (dropRTCP). With rtp nil pion's
// own buffers are used for RTP and RTCP.
func (m *mediaAPI) forSession(rtp func(ssrc uint32) io.ReadWriteCloser) *webrtc.API {
	se := m.se
	// The page's ICE sockets read and write with raw system calls.
	if n := m.nets.get(time.Now()); n != nil {
		se.SetNet(n)
	}
	if rtp != nil {
		se.BufferFactory = func(t packetio.BufferPacketType, ssrc uint32) io.ReadWriteCloser {
			if t == packetio.RTPBufferPacket {
				return rtp(ssrc)
			}
			return newDropRTCP()
		}
		// Nothing reads the tracks: the relay has the packets already.
		se.SetFireOnTrackBeforeFirstRTP(true)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m.me), webrtc.WithInterceptorRegistry(m.ir), webrtc.WithSettingEngine(se))
}

// rawNet is pion's standard network with UDP sockets whose packets go
// through raw system calls (sipbridge/rawudp; pion's ICE agent uses a
// socket's ReadFromAddrPort and WriteToAddrPort when it has them): every
// packet of a page passes two of them.
type rawNet struct{ *stdnet.Net }

// pion takes a rawudp socket's own reads and writes only through this
// interface: should it change, this stops compiling rather than quietly
// going back to the standard library's.
var _ ice.AddrPortReaderWriter = (*rawudp.Conn)(nil)

func (rawNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return rawudp.New(c), nil
}

// dropRTCP is what an SRTP session writes a stream's decrypted RTCP to:
// nothing reads the page's RTCP (the only interceptor, the sender reports,
// needs none; the relay forwards no RTCP to the SIP side), and a buffer
// would fill up unread. pion's grows by doubling to its 100 KB limit and
// never shrinks: at the browser's report or two a second that is ≈ 128
// KiB per stream after a quarter of an hour of a call, for the page's own
// stream, ours and every SSRC a report names that pion does not know.
// Write drops the packet; Read, which the RTP sender and receiver would
// call, waits until the stream is closed.
type dropRTCP struct{ closedReader }

func newDropRTCP() *dropRTCP { return &dropRTCP{newClosedReader()} }

// Write drops b.
func (d *dropRTCP) Write(b []byte) (int, error) { return len(b), nil }

// newMediaAPI builds what the sessions' APIs share from cfg.
func newMediaAPI(cfg Config) (*mediaAPI, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range supported {
		p := webrtc.RTPCodecParameters{RTPCodecCapability: capability(c), PayloadType: webrtc.PayloadType(c.PayloadType)}
		if err := me.RegisterCodec(p, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("register %s: %w", c, err)
		}
	}
	for _, te := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, Channels: 1, SDPFmtpLine: "0-16"}, PayloadType: ptTelephoneEvent8k},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 48000, Channels: 1, SDPFmtpLine: "0-16"}, PayloadType: ptTelephoneEvent48k},
	} {
		if err := me.RegisterCodec(te, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("register telephone-event: %w", err)
		}
	}
	ir := &interceptor.Registry{}
	// Sender reports only (RFC 3550 section 6.4.1): the browser needs them
	// to map RTP time to wall clock. Audio needs no NACK or TWCC, and
	// pion's receiver-report interceptor allocates a header per received
	// packet, which the relay avoids. The reports of all PeerConnections
	// go out from one goroutine (senderReports), not one each.
	ir.Add(newSenderReports(senderReportInterval))

	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if cfg.UDPPortMin != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("udp port range: %w", err)
		}
	}
	if len(cfg.NAT1To1IPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        cfg.NAT1To1IPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, fmt.Errorf("nat 1:1 ips: %w", err)
		}
	}
	if cfg.IncludeLoopback {
		// Loopback only: both ends on this host. The remote filter drops the
		// browser's other interfaces, whose checks would go unanswered.
		se.SetIncludeLoopbackCandidate(true)
		// Loopback interfaces only: another interface may carry a loopback
		// address too (127.0.0.1/32 on a veth in a test namespace), and
		// would give every page a second socket for the same address.
		se.SetInterfaceFilter(isLoopbackInterface)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetRemoteIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	// One logger factory for all APIs, or each would build its own, and
	// one logger per scope for all PeerConnections (sharedLoggers).
	se.LoggerFactory = &sharedLoggers{f: logging.NewDefaultLoggerFactory()}
	m := &mediaAPI{me: me, ir: ir, se: se}
	if cfg.UDPPort != 0 {
		mux, err := newUDPMux(cfg, se.LoggerFactory)
		if err != nil {
			return nil, err
		}
		m.mux = mux
		m.se.SetICEUDPMux(mux)
	}
	return m, nil
}

// sharedLoggers gives every PeerConnection the same logger for a scope:
// pion asks for a dozen scopes per PeerConnection ("ice", "dtls", "pc",
// "mux", …), and its default factory builds each anew, five log.Loggers
// apiece, kept for the connection's life. pion's loggers are safe for
// concurrent use and carry no state of a connection.
type sharedLoggers struct {
	f  logging.LoggerFactory
	mu sync.Mutex
	m  map[string]logging.LeveledLogger
}

func (s *sharedLoggers) NewLogger(scope string) logging.LeveledLogger {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.m[scope]; ok {
		return l
	}
	if s.m == nil {
		s.m = map[string]logging.LeveledLogger{}
	}
	l := s.f.NewLogger(scope)
	s.m[scope] = l
	return l
}

// udpMuxBufferSize is the socket buffer the UDP mux asks for; Linux gives
// at most net.core.rmem_max / wmem_max (README, Softphone gateway).
const udpMuxBufferSize = 8 << 20

// newUDPMux listens on cfg.UDPPort of every local address the candidates
// would come from (the same interface and address filters), one socket
// and read loop per address shared by all pages.
func newUDPMux(cfg Config, lf logging.LoggerFactory) (*ice.MultiUDPMuxDefault, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("ice udp_port %d: %w", cfg.UDPPort, err)
	}
	opts := []ice.UDPMuxFromPortOption{
		// The mux's sockets read and write raw too (rawNet).
		ice.UDPMuxFromPortWithNet(rawNet{n}),
		ice.UDPMuxFromPortWithLogger(lf.NewLogger("ice-mux")),
		// One socket takes what a socket per page took: room for the
		// bursts of every page while its one reader waits for the CPU.
		ice.UDPMuxFromPortWithReadBufferSize(udpMuxBufferSize),
		ice.UDPMuxFromPortWithWriteBufferSize(udpMuxBufferSize),
	}
	if cfg.IncludeLoopback {
		opts = append(opts,
			ice.UDPMuxFromPortWithLoopback(),
			ice.UDPMuxFromPortWithInterfaceFilter(isLoopbackInterface),
			ice.UDPMuxFromPortWithIPFilter(func(ip net.IP) bool { return ip.IsLoopback() }),
			ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4))
	}
	mux, err := ice.NewMultiUDPMuxFromPort(int(cfg.UDPPort), opts...)
	if err != nil {
		return nil, fmt.Errorf("ice udp_port %d: %w", cfg.UDPPort, err)
	}
	if len(mux.GetListenAddresses()) == 0 {
		_ = mux.Close()
		return nil, fmt.Errorf("%w: ice udp_port %d: no local address to listen on", ErrBadConfig, cfg.UDPPort)
	}
	return mux, nil
}

// isLoopbackInterface reports whether the interface called name is flagged
// loopback.
func isLoopbackInterface(name string) bool {
	ifc, err := net.InterfaceByName(name)
	return err == nil && ifc.Flags&net.FlagLoopback != 0
}

// iceServers converts cfg's servers for pion.
func iceServers(s []ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(s))
	for _, v := range s {
		out = append(out, webrtc.ICEServer{URLs: v.URLs, Username: v.Username, Credential: v.Credential})
	}
	return out
}
