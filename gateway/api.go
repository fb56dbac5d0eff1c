package gateway

import (
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
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
// the track reader's goroutine woken for each packet) is skipped. RTCP
// keeps pion's buffers, bounded as pion bounds them. With rtp nil pion's
// own buffers are used for RTP too.
func (m *mediaAPI) forSession(rtp func(ssrc uint32) io.ReadWriteCloser) *webrtc.API {
	se := m.se
	// The page's ICE sockets read and write with raw system calls. A
	// network of its own per session, as pion makes one per agent when
	// given none: the interfaces are read when the session starts.
	if n, err := stdnet.NewNet(); err == nil {
		se.SetNet(rawNet{n})
	}
	if rtp != nil {
		se.BufferFactory = func(t packetio.BufferPacketType, ssrc uint32) io.ReadWriteCloser {
			if t == packetio.RTPBufferPacket {
				return rtp(ssrc)
			}
			b := &rtcpBuffer{packetio.NewBuffer()}
			b.SetLimitSize(rtcpBufferLimit)
			return b
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

// rtcpBufferLimit bounds the RTCP a stream holds unread, as pion's default
// buffer does (srtp's srtcpBufferSize): the receiver's RTCP is never read.
const rtcpBufferLimit = 100 * 1000

// rtcpBuffer is pion's packet buffer in the form the SRTP session takes
// (as srtp's own packetBuffer), attributes included.
type rtcpBuffer struct{ *packetio.Buffer }

func (b *rtcpBuffer) Read(p []byte) (int, error) {
	n, _, err := b.Buffer.Read(p, nil)
	return n, err
}

func (b *rtcpBuffer) Write(p []byte) (int, error) { return b.Buffer.Write(p, nil) }

func (b *rtcpBuffer) ReadWithAttributes(p []byte, a packetio.Attributes) (int, packetio.Attributes, error) {
	return b.Buffer.Read(p, a)
}

func (b *rtcpBuffer) WriteWithAttributes(p []byte, a packetio.Attributes) (int, error) {
	return b.Buffer.Write(p, a)
}

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
	// packet, which the relay avoids.
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, fmt.Errorf("rtcp sender reports: %w", err)
	}
	ir.Add(sr)

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
	// One logger factory for all APIs, or each would build its own.
	se.LoggerFactory = logging.NewDefaultLoggerFactory()
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
