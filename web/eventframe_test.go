package web

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// maskedFrame builds a client frame: first byte b0 (FIN, opcode), the
// payload masked with key.
func maskedFrame(b0 byte, payload []byte, key [4]byte) []byte {
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n <= 0xffff:
		out = binary.BigEndian.AppendUint16(append(out, 0x80|126), uint16(n))
	default:
		out = binary.BigEndian.AppendUint64(append(out, 0x80|127), uint64(n))
	}
	out = append(out, key[:]...)
	for i, c := range payload {
		out = append(out, c^key[i&3])
	}
	return out
}

func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

func TestParseClientFrame(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	long := bytes.Repeat([]byte("x"), 300)
	tests := []struct {
		name    string
		in      []byte
		op      byte
		payload []byte
		n       int // 0: incomplete
		err     bool
	}{
		{name: "ping", in: maskedFrame(0x89, []byte("hi"), key), op: opPing, payload: []byte("hi"), n: 8},
		{name: "empty pong", in: maskedFrame(0x8a, nil, key), op: opPong, payload: []byte{}, n: 6},
		{name: "close with reason", in: maskedFrame(0x88, closePayload(1000, "bye"), key), op: opClose, payload: closePayload(1000, "bye"), n: 11},
		{name: "close without code", in: maskedFrame(0x88, nil, key), op: opClose, payload: []byte{}, n: 6},
		{name: "text frame: header only", in: maskedFrame(0x81, []byte("data"), key), op: opText, n: 6},
		{name: "binary 16-bit length", in: maskedFrame(0x82, long, key), op: opBinary, n: 8},
		{name: "one byte", in: []byte{0x89}},
		{name: "no mask key yet", in: maskedFrame(0x89, []byte("hi"), key)[:4]},
		{name: "payload cut", in: maskedFrame(0x89, []byte("hi"), key)[:7]},
		{name: "unmasked", in: []byte{0x89, 0x00}, err: true},
		{name: "reserved bit", in: maskedFrame(0xc9, nil, key), err: true},
		{name: "reserved opcode", in: maskedFrame(0x83, nil, key), err: true},
		{name: "reserved control opcode", in: maskedFrame(0x8b, nil, key), err: true},
		{name: "fragmented ping", in: maskedFrame(0x09, nil, key), err: true},
		{name: "long ping", in: maskedFrame(0x89, long[:126], key), err: true},
		{name: "close of one byte", in: maskedFrame(0x88, []byte{3}, key), err: true},
		{name: "close code 1005", in: maskedFrame(0x88, closePayload(1005, ""), key), err: true},
		{name: "close code 2000", in: maskedFrame(0x88, closePayload(2000, ""), key), err: true},
		{name: "close reason not UTF-8", in: maskedFrame(0x88, closePayload(1000, "\xff"), key), err: true},
		{name: "64-bit length top bit", in: []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, n, err := parseClientFrame(bytes.Clone(tt.in))
			if tt.err {
				if !errors.Is(err, errClientFrame) {
					t.Fatalf("err %v, want errClientFrame", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.n {
				t.Fatalf("n %d, want %d", n, tt.n)
			}
			if n == 0 {
				return
			}
			if f.opcode != tt.op || !bytes.Equal(f.payload, tt.payload) {
				t.Fatalf("got op %#x payload %q, want %#x %q", f.opcode, f.payload, tt.op, tt.payload)
			}
		})
	}
}

func TestAppendCloseFrame(t *testing.T) {
	long := string(bytes.Repeat([]byte("ä"), 100)) // 200 bytes
	for _, reason := range []string{"", closeTooSlow, long} {
		b := appendCloseFrame(nil, 1008, reason)
		if b[0] != 0x88 || int(b[1]) != len(b)-2 || len(b)-2 > maxControlPayload {
			t.Fatalf("%q: header % x, length %d", reason, b[:2], len(b))
		}
		code, got, err := parseClosePayload(b[2:])
		if err != nil || code != 1008 {
			t.Fatalf("%q: code %d err %v", reason, code, err)
		}
		if len(reason) <= maxControlPayload-2 && got != reason {
			t.Fatalf("reason %q, want %q", got, reason)
		}
	}
}

// FuzzClientFrame: whatever a client sends, the frame reader neither
// panics nor takes more than it was given; a frame it accepts is
// accepted the same when it arrives byte by byte, and reports nothing
// but "more" for any shorter prefix.
func FuzzClientFrame(f *testing.F) {
	key := [4]byte{1, 2, 3, 4}
	for _, seed := range [][]byte{
		maskedFrame(0x89, []byte("ping"), key),
		maskedFrame(0x8a, nil, key),
		maskedFrame(0x88, closePayload(1001, "going"), key),
		maskedFrame(0x81, []byte(`{"type":"x"}`), key),
		maskedFrame(0x82, bytes.Repeat([]byte{0}, 200), key),
		{0x89, 0x00},
		{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0},
		{},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := parseClientFrame(bytes.Clone(b))
		if err != nil {
			if !errors.Is(err, errClientFrame) {
				t.Fatalf("error %v is not errClientFrame", err)
			}
			return
		}
		if n < 0 || n > len(b) {
			t.Fatalf("took %d of %d bytes", n, len(b))
		}
		if n == 0 {
			return
		}
		if fr.control() && len(fr.payload) > maxControlPayload {
			t.Fatalf("control payload of %d bytes", len(fr.payload))
		}
		for k := range n {
			_, m, err := parseClientFrame(bytes.Clone(b[:k]))
			if m != 0 || err != nil {
				t.Fatalf("prefix of %d bytes of a %d-byte frame: n %d err %v", k, n, m, err)
			}
		}
		again, m, err := parseClientFrame(bytes.Clone(b[:n]))
		if err != nil || m != n || again.opcode != fr.opcode || !bytes.Equal(again.payload, fr.payload) {
			t.Fatalf("the frame alone parses differently: %v %d %v", again, m, err)
		}
	})
}
