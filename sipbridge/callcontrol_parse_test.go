package sipbridge

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// readTestdata returns the bytes of testdata/dir/name.
func readTestdata(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSipfrag(t *testing.T) {
	tests := []struct {
		file   string
		status int
		reason string
		bad    bool
	}{
		{"trying.txt", 100, "Trying", false},
		{"ringing.txt", 180, "Ringing", false},
		{"ok-with-headers.txt", 200, "OK", false},
		{"busy-no-crlf.txt", 486, "Busy Here", false},
		{"declined.txt", 603, "Declined", false},
		{"request-line.txt", 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := parseSipfrag(readTestdata(t, "sipfrag", tt.file))
			if tt.bad {
				if !errors.Is(err, ErrBadSipfrag) {
					t.Fatalf("err = %v, want ErrBadSipfrag", err)
				}
				return
			}
			if err != nil || f.status != tt.status || f.reason != tt.reason {
				t.Fatalf("parseSipfrag = %+v, %v; want %d %q", f, err, tt.status, tt.reason)
			}
		})
	}
	inline := []struct {
		name string
		in   string
		want int
		bad  bool
	}{
		{"leading blank line", "\r\nSIP/2.0 180 Ringing\r\n", 180, false},
		{"no reason", "SIP/2.0 200", 200, false},
		{"lower-case version", "sip/2.0 404 Not Found", 404, false},
		{"empty", "", 0, true},
		{"two-digit code", "SIP/2.0 20 OK", 0, true},
		{"code out of range", "SIP/2.0 700 Huh", 0, true},
		{"letters", "SIP/2.0 2OO OK", 0, true},
		{"no version", "200 OK", 0, true},
		{"short version", "SIP/2 200 OK", 0, true},
	}
	for _, tt := range inline {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseSipfrag([]byte(tt.in))
			if tt.bad != (err != nil) || f.status != tt.want {
				t.Fatalf("parseSipfrag(%q) = %+v, %v", tt.in, f, err)
			}
			if err != nil && !errors.Is(err, ErrBadSipfrag) {
				t.Fatalf("err = %v, want ErrBadSipfrag", err)
			}
		})
	}
	// What our NOTIFYs carry parses back.
	if f, err := parseSipfrag(sipfragBody(183, "Session Progress")); err != nil || f.status != 183 || f.reason != "Session Progress" {
		t.Fatalf("own body: %+v, %v", f, err)
	}
}

func TestParseReplaces(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want replaces
		bad  bool
	}{
		{"rfc3891 example", string(readTestdata(t, "replaces", "rfc3891.txt")), replaces{callID: "98732@sip.example.com", toTag: "ff87ff", fromTag: "r33th4x0r"}, false},
		{"early-only", string(readTestdata(t, "replaces", "early-only.txt")), replaces{callID: "425928@bobster.example.org", toTag: "7743", fromTag: "6472", earlyOnly: true}, false},
		{"spaces and generic param", string(readTestdata(t, "replaces", "spaces.txt")), replaces{callID: "a84b4c76e66710@pc33.atlanta.example.com", toTag: "1", fromTag: "2"}, false},
		{"upper-case names", "abc;TO-TAG=1;From-Tag=2", replaces{callID: "abc", toTag: "1", fromTag: "2"}, false},
		{"uuid call-id", "7c0c1f54-8f0b-4d47-9c3e-2a1b3c4d5e6f;to-tag=a;from-tag=b", replaces{callID: "7c0c1f54-8f0b-4d47-9c3e-2a1b3c4d5e6f", toTag: "a", fromTag: "b"}, false},
		{"no from-tag", "abc;to-tag=1", replaces{}, true},
		{"empty tag", "abc;to-tag=;from-tag=2", replaces{}, true},
		{"no call-id", ";to-tag=1;from-tag=2", replaces{}, true},
		{"space in call-id", "a b;to-tag=1;from-tag=2", replaces{}, true},
		{"tag twice", "abc;to-tag=1;to-tag=3;from-tag=2", replaces{}, true},
		{"bad tag character", "abc;to-tag=1,2;from-tag=2", replaces{}, true},
		{"empty parameter", "abc;;to-tag=1;from-tag=2", replaces{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseReplaces(tt.in)
			if tt.bad {
				if !errors.Is(err, ErrBadReplaces) {
					t.Fatalf("parseReplaces(%q) = %+v, %v; want ErrBadReplaces", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseReplaces(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			back, err := parseReplaces(got.String())
			if err != nil || back != got {
				t.Fatalf("round trip %q = %+v, %v", got.String(), back, err)
			}
		})
	}
}

func TestParseDTMFRelay(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		digit string
		dur   time.Duration
		bad   bool
	}{
		{"cisco", string(readTestdata(t, "dtmf-relay", "cisco.txt")), "5", 160 * time.Millisecond, false},
		{"event code for star", string(readTestdata(t, "dtmf-relay", "event-code.txt")), "*", 250 * time.Millisecond, false},
		{"lower case, LF only", string(readTestdata(t, "dtmf-relay", "lower-case.txt")), "#", 100 * time.Millisecond, false},
		{"letter key", "Signal=d\r\n", "D", 0, false},
		{"event code 11", "Signal=11\r\nDuration=100", "#", 100 * time.Millisecond, false},
		{"unknown line ignored", "Signal=3\r\nVolume=10\r\n", "3", 0, false},
		{"no signal", "Duration=100\r\n", "", 0, true},
		{"flash is no key", "Signal=16\r\n", "", 0, true},
		{"two characters", "Signal=12x\r\n", "", 0, true},
		{"two signals", "Signal=1\r\nSignal=2\r\n", "", 0, true},
		{"bad duration", "Signal=1\r\nDuration=-5\r\n", "", 0, true},
		{"no equals sign", "Signal 1\r\n", "", 0, true},
		{"empty", "", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDTMFRelay([]byte(tt.in))
			if tt.bad {
				if !errors.Is(err, ErrBadDTMFBody) {
					t.Fatalf("parseDTMFRelay(%q) = %+v, %v; want ErrBadDTMFBody", tt.in, got, err)
				}
				return
			}
			if err != nil || got.digit != tt.digit || got.duration != tt.dur {
				t.Fatalf("parseDTMFRelay(%q) = %+v, %v", tt.in, got, err)
			}
		})
	}
	for _, d := range dtmfDigits {
		got, err := parseDTMFRelay(dtmfRelayBody(byte(d), 120*time.Millisecond))
		if err != nil || got.digit != string(d) || got.duration != 120*time.Millisecond {
			t.Errorf("own body for %c: %+v, %v", d, got, err)
		}
	}
	for in, want := range map[string]string{"5": "5", " #\r\n": "#", "10": "*", "a": "A"} {
		if got, err := parseDTMFBody([]byte(in)); err != nil || got.digit != want {
			t.Errorf("parseDTMFBody(%q) = %+v, %v; want %s", in, got, err, want)
		}
	}
	if _, err := parseDTMFBody([]byte("55")); !errors.Is(err, ErrBadDTMFBody) {
		t.Errorf("parseDTMFBody(55) err = %v", err)
	}
}

func TestParseTelephoneEvent(t *testing.T) {
	tests := []struct {
		file string
		want telephoneEvent
	}{
		{"digit5-start.bin", telephoneEvent{event: 5, volume: 10, duration: 160}},
		{"hash-end.bin", telephoneEvent{event: 11, end: true, volume: 10, duration: 800}},
		{"two-events.bin", telephoneEvent{event: 1, volume: 10, duration: 320}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := parseTelephoneEvent(readTestdata(t, "telephone-event", tt.file))
			if err != nil || got != tt.want {
				t.Fatalf("parseTelephoneEvent = %+v, %v; want %+v", got, err, tt.want)
			}
			var b [telephoneEventSize]byte
			got.put(b[:])
			if back, _ := parseTelephoneEvent(b[:]); back != got {
				t.Fatalf("round trip = %+v", back)
			}
		})
	}
	if _, err := parseTelephoneEvent([]byte{1, 2, 3}); !errors.Is(err, ErrBadTelephoneEvent) {
		t.Fatalf("short payload err = %v", err)
	}
	// The reserved bit is never set by put, whatever volume says.
	var b [4]byte
	telephoneEvent{event: 1, volume: 0xff}.put(b[:])
	if b[1] != 0x3f {
		t.Fatalf("volume byte %#x", b[1])
	}
}

func TestEventDetector(t *testing.T) {
	ev := func(code uint8, end bool, dur uint16) telephoneEvent {
		return telephoneEvent{event: code, end: end, volume: 10, duration: dur}
	}
	type pkt struct {
		ts uint32
		e  telephoneEvent
	}
	tests := []struct {
		name string
		pkts []pkt
		want string
	}{
		{"one press, three end packets", []pkt{{1000, ev(5, false, 160)}, {1000, ev(5, false, 320)}, {1000, ev(5, true, 800)}, {1000, ev(5, true, 800)}, {1000, ev(5, true, 800)}}, "5"},
		{"first packets lost", []pkt{{1000, ev(5, true, 800)}, {1000, ev(5, true, 800)}}, "5"},
		{"same key twice", []pkt{{1000, ev(1, false, 160)}, {1000, ev(1, true, 800)}, {3000, ev(1, false, 160)}, {3000, ev(1, true, 800)}}, "11"},
		{"same key twice, end packets of the first lost", []pkt{{1000, ev(1, false, 160)}, {5000, ev(1, false, 160)}}, "11"},
		{"three keys", []pkt{{1000, ev(1, true, 800)}, {3000, ev(2, true, 800)}, {5000, ev(11, true, 800)}}, "12#"},
		{"reordered old packet", []pkt{{3000, ev(2, false, 160)}, {1000, ev(1, true, 800)}, {3000, ev(2, true, 800)}}, "2"},
		{"long press in two segments", []pkt{{1000, ev(0, false, 65535)}, {66535, ev(0, false, 160)}, {66535, ev(0, true, 4000)}}, "0"},
		{"flash reports nothing", []pkt{{1000, ev(16, true, 800)}}, ""},
		{"timestamp wraps", []pkt{{0xffffff00, ev(3, true, 800)}, {0x500, ev(4, true, 800)}}, "34"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d eventDetector
			got := ""
			for _, p := range tt.pkts {
				if k, ok := d.packet(p.ts, p.e); ok {
					got += k
				}
			}
			if got != tt.want {
				t.Fatalf("keys %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseReferTo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		uri     string
		scheme  string
		user    string
		headers []uriHeader
		bad     bool
	}{
		{"blind", string(readTestdata(t, "refer-to", "blind.txt")), "sip:1002@127.0.0.1:5070", "sip", "1002", nil, false},
		{"attended with replaces", string(readTestdata(t, "refer-to", "attended.txt")), "sip:1002@127.0.0.1:5120;transport=udp", "sip", "1002",
			[]uriHeader{{"Replaces", "abc@host;to-tag=1;from-tag=2"}, {"Require", "replaces"}}, false},
		{"addr-spec with header params", string(readTestdata(t, "refer-to", "addr-spec.txt")), "sip:1002@pbx.example", "sip", "1002", nil, false},
		{"tel", string(readTestdata(t, "refer-to", "tel.txt")), "tel:+49-30-1234;phone-context=example.com", "tel", "+49-30-1234", nil, false},
		{"sips, escaped user", "<sips:%2B4930@pbx>", "sips:%2B4930@pbx", "sips", "+4930", nil, false},
		{"no user", "<sip:pbx.example>", "sip:pbx.example", "sip", "", nil, false},
		{"other scheme is parsed", "<http://example.com/x>", "http://example.com/x", "http", "", nil, false},
		{"unclosed", "<sip:1002@pbx", "", "", "", nil, true},
		{"no scheme", "<1002>", "", "", "", nil, true},
		{"empty", "", "", "", "", nil, true},
		{"no host", "<sip:1002@>", "", "", "", nil, true},
		{"bad escape", "<sip:1002@pbx?Replaces=%zz>", "", "", "", nil, true},
		{"space inside", "<sip:10 02@pbx>", "", "", "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseReferTo(tt.in)
			if tt.bad {
				if !errors.Is(err, ErrBadReferTo) {
					t.Fatalf("parseReferTo(%q) = %+v, %v; want ErrBadReferTo", tt.in, got, err)
				}
				return
			}
			if err != nil || got.uri != tt.uri || got.scheme != tt.scheme || got.user != tt.user || len(got.headers) != len(tt.headers) {
				t.Fatalf("parseReferTo(%q) = %+v, %v", tt.in, got, err)
			}
			for i, h := range tt.headers {
				if got.headers[i] != h {
					t.Fatalf("header %d = %+v, want %+v", i, got.headers[i], h)
				}
			}
		})
	}
	// What TransferTo writes comes back as the same Replaces.
	r := replaces{callID: "7c0c@127.0.0.1", toTag: "a-1", fromTag: "b.2"}
	got, err := parseReferTo("<sip:1002@127.0.0.1:5120;transport=udp?Replaces=" + escapeURIHeader(r.String()) + ">")
	if err != nil {
		t.Fatal(err)
	}
	v, ok := got.header("replaces")
	if back, err := parseReplaces(v); !ok || err != nil || back != r {
		t.Fatalf("replaces through Refer-To: %q %v %+v", v, err, back)
	}
}
