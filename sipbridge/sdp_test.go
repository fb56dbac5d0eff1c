package sipbridge

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

func readSDP(t *testing.T, name string) *SDP {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sdp", name))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSDP(b)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return s
}

func TestParseSDP(t *testing.T) {
	tests := []struct {
		file   string
		addr   string
		codecs []string
		dtmf   []uint8
		dir    Direction
		ptime  int
	}{
		{"baresip-pcmu.sdp", "127.0.0.1:20014", []string{"0 PCMU/8000"}, []uint8{101}, SendRecv, 0},
		{"baresip-via-kamailio.sdp", "127.0.0.1:40794", []string{"0 PCMU/8000"}, []uint8{101}, SendRecv, 20},
		{"baresip-opus.sdp", "127.0.0.1:20020", []string{"96 opus/48000/2", "0 PCMU/8000", "9 G722/8000", "8 PCMA/8000"}, []uint8{101}, SendRecv, 20},
		{"hold-sendonly.sdp", "192.0.2.10:14000", []string{"8 PCMA/8000", "0 PCMU/8000"}, []uint8{101}, SendOnly, 20},
		{"ipv6-video-first.sdp", "[::1]:30002", []string{"9 G722/8000", "111 opus/48000/2", "0 PCMU/8000"}, nil, Inactive, 0},
		{"g729-only.sdp", "127.0.0.2:40000", []string{"18 G729/8000", "3 GSM/8000"}, nil, RecvOnly, 0},
		{"rejected.sdp", "127.0.0.1:0", []string{"0 PCMU/8000"}, nil, SendRecv, 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s := readSDP(t, tt.file)
			if got := s.RTPAddr().String(); got != tt.addr {
				t.Errorf("addr = %s, want %s", got, tt.addr)
			}
			var got []string
			for _, c := range s.Codecs {
				got = append(got, itoa(c.PayloadType)+" "+c.String())
			}
			if !reflect.DeepEqual(got, tt.codecs) {
				t.Errorf("codecs = %q, want %q", got, tt.codecs)
			}
			var dtmf []uint8
			for _, d := range s.DTMF {
				dtmf = append(dtmf, d.PayloadType)
			}
			if !reflect.DeepEqual(dtmf, tt.dtmf) {
				t.Errorf("dtmf = %v, want %v", dtmf, tt.dtmf)
			}
			if s.Direction != tt.dir {
				t.Errorf("direction = %s, want %s", s.Direction, tt.dir)
			}
			if s.Ptime != tt.ptime {
				t.Errorf("ptime = %d, want %d", s.Ptime, tt.ptime)
			}
		})
	}
}

func itoa(v uint8) string { return strconv.Itoa(int(v)) }

func TestParseSDPErrors(t *testing.T) {
	tests := []struct{ name, sdp string }{
		{"empty", ""},
		{"no version", "o=- 1 1 IN IP4 127.0.0.1\r\n"},
		{"bad version", "v=1\r\n"},
		{"garbage line", "v=0\r\nhello\r\n"},
		{"no audio", "v=0\r\nc=IN IP4 127.0.0.1\r\nm=video 1 RTP/AVP 96\r\n"},
		{"bad port", "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 70000 RTP/AVP 0\r\n"},
		{"bad pt", "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 200\r\n"},
		{"bad address", "v=0\r\nc=IN IP4 example\r\nm=audio 4000 RTP/AVP 0\r\n"},
		{"no address", "v=0\r\nm=audio 4000 RTP/AVP 0\r\n"},
		{"bad rtpmap", "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus\r\n"},
		{"zero rate", "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/0\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseSDP([]byte(tt.sdp)); !errors.Is(err, ErrBadSDP) {
				t.Fatalf("err = %v, want ErrBadSDP", err)
			}
		})
	}
}

func TestOfferCodecs(t *testing.T) {
	tests := []struct {
		name  string
		in    []Codec
		audio []string
		dtmf  []string
	}{
		{"g711", []Codec{CodecPCMU, CodecPCMA}, []string{"0 PCMU/8000", "8 PCMA/8000"}, []string{"101 telephone-event/8000"}},
		{"static types restored", []Codec{{Name: "PCMA", ClockRate: 8000, PayloadType: 99}, {Name: "g722", ClockRate: 8000, PayloadType: 100}}, []string{"8 PCMA/8000", "9 g722/8000"}, []string{"101 telephone-event/8000"}},
		{"opus keeps its dynamic type", []Codec{CodecOpus, CodecPCMU}, []string{"111 opus/48000/2", "0 PCMU/8000"}, []string{"101 telephone-event/8000", "110 telephone-event/48000"}},
		{"clashing dynamic types remapped", []Codec{{Name: "opus", ClockRate: 48000, Channels: 2, PayloadType: 101}, {Name: "telephone-event", ClockRate: 8000, PayloadType: 101}}, []string{"101 opus/48000/2"}, []string{"96 telephone-event/8000", "110 telephone-event/48000"}},
		{"out of range dynamic type", []Codec{{Name: "opus", ClockRate: 48000, Channels: 2, PayloadType: 20}}, []string{"96 opus/48000/2"}, []string{"101 telephone-event/8000", "110 telephone-event/48000"}},
		{"duplicates dropped", []Codec{CodecPCMU, CodecPCMU, {Name: "pcmu", ClockRate: 8000}}, []string{"0 PCMU/8000"}, []string{"101 telephone-event/8000"}},
		{"nothing", nil, nil, []string{"101 telephone-event/8000"}},
	}
	str := func(cs []Codec) []string {
		var out []string
		for _, c := range cs {
			out = append(out, itoa(c.PayloadType)+" "+c.String())
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			audio, dtmf := OfferCodecs(tt.in)
			if got := str(audio); !reflect.DeepEqual(got, tt.audio) {
				t.Errorf("audio = %q, want %q", got, tt.audio)
			}
			if got := str(dtmf); !reflect.DeepEqual(got, tt.dtmf) {
				t.Errorf("dtmf = %q, want %q", got, tt.dtmf)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		file    string
		accept  []Codec
		want    string
		wantPT  uint8
		fmtp    string
		dtmfPT  int
		wantErr bool
	}{
		{"baresip-opus.sdp", []Codec{CodecOpus, CodecPCMU}, "opus/48000/2", 96, "stereo=1;sprop-stereo=1", 101, false},
		{"baresip-opus.sdp", []Codec{CodecPCMA, CodecG722}, "G722/8000", 9, "", 101, false},
		{"baresip-opus.sdp", []Codec{CodecPCMA}, "PCMA/8000", 8, "", 101, false},
		{"baresip-pcmu.sdp", []Codec{CodecPCMU}, "PCMU/8000", 0, "", 101, false},
		{"baresip-pcmu.sdp", []Codec{CodecPCMA, CodecOpus}, "", 0, "", -1, true},
		{"ipv6-video-first.sdp", []Codec{CodecOpus}, "opus/48000/2", 111, "minptime=10;useinbandfec=1", -1, false},
		{"g729-only.sdp", []Codec{CodecPCMU, CodecPCMA}, "", 0, "", -1, true},
		{"rejected.sdp", []Codec{CodecPCMU}, "", 0, "", -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.file+" "+tt.want, func(t *testing.T) {
			audio, dtmf, err := Negotiate(readSDP(t, tt.file), tt.accept)
			if tt.wantErr {
				if !errors.Is(err, ErrNoCommonCodec) {
					t.Fatalf("err = %v, want ErrNoCommonCodec", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if audio.String() != tt.want || audio.PayloadType != tt.wantPT || audio.Fmtp != tt.fmtp {
				t.Errorf("audio = %d %s %q, want %d %s %q", audio.PayloadType, audio, audio.Fmtp, tt.wantPT, tt.want, tt.fmtp)
			}
			switch {
			case tt.dtmfPT < 0 && dtmf != nil:
				t.Errorf("dtmf = %v, want none", dtmf)
			case tt.dtmfPT >= 0 && (dtmf == nil || int(dtmf.PayloadType) != tt.dtmfPT):
				t.Errorf("dtmf = %v, want pt %d", dtmf, tt.dtmfPT)
			}
		})
	}
}

func TestBuildSDPRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		addr string
		dir  Direction
	}{
		{"ipv4 sendrecv", "127.0.0.1:20000", SendRecv},
		{"ipv6 hold", "[::1]:20002", SendOnly},
		{"inactive", "127.0.0.1:20004", Inactive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ap := netip.MustParseAddrPort(tt.addr)
			audio, dtmf := OfferCodecs([]Codec{CodecOpus, CodecG722, CodecPCMU, CodecPCMA})
			body := buildSDP(sdpParams{sessionID: 7, version: 8, addr: ap.Addr(), port: ap.Port(), codecs: audio, dtmf: dtmf, direction: tt.dir, ptime: 20})
			s, err := ParseSDP(body)
			if err != nil {
				t.Fatalf("parse own sdp: %v\n%s", err, body)
			}
			if s.RTPAddr() != ap || s.Direction != tt.dir || s.Ptime != 20 || s.SessionID != 7 || s.Version != 8 {
				t.Errorf("got %+v", s)
			}
			if !reflect.DeepEqual(s.Codecs, audio) || !reflect.DeepEqual(s.DTMF, dtmf) {
				t.Errorf("codecs = %+v / %+v, want %+v / %+v", s.Codecs, s.DTMF, audio, dtmf)
			}
		})
	}
}

func TestDirectionReverse(t *testing.T) {
	for in, want := range map[Direction]Direction{SendRecv: SendRecv, SendOnly: RecvOnly, RecvOnly: SendOnly, Inactive: Inactive, "": SendRecv} {
		if got := in.reverse(); got != want {
			t.Errorf("%q.reverse() = %q, want %q", in, got, want)
		}
	}
}
