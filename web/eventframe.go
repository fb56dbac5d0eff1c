package web

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// What an /events client may send (RFC 6455 section 5): pings, pongs
// and its close frame, masked. The stream is write-only, so a data frame
// ends it.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// maxControlPayload is the largest payload a control frame may carry.
const maxControlPayload = 125

// maxClientFrameHeader is the longest frame header: 2 bytes, a 64-bit
// length and the 4-byte mask.
const maxClientFrameHeader = 2 + 8 + 4

var (
	// errClientFrame is a frame no client may send (unmasked, reserved
	// bits or opcodes, a fragmented or oversized control frame, a bad
	// close payload): the socket is closed with 1002.
	errClientFrame = errors.New("events socket: protocol error in a client frame")
)

// clientFrame is one frame read from a client.
type clientFrame struct {
	opcode byte
	// payload is a control frame's payload, unmasked in place in the
	// buffer it was read from; nil for a data frame, whose payload is not
	// read (the stream ends on it).
	payload []byte
}

// control reports whether f is a control frame.
func (f clientFrame) control() bool { return f.opcode&0x8 != 0 }

// parseClientFrame reads the frame at the start of b. n is how many bytes
// of b it took: 0 when b holds only part of a frame (read more and call
// again). A data frame is returned once its header is complete, with n
// the header's length. A control frame's payload is unmasked in b.
func parseClientFrame(b []byte) (f clientFrame, n int, err error) {
	if len(b) < 2 {
		return clientFrame{}, 0, nil
	}
	b0, b1 := b[0], b[1]
	fin, rsv, op := b0&0x80 != 0, b0&0x70, b0&0x0f
	if rsv != 0 {
		return clientFrame{}, 0, fmt.Errorf("%w: reserved bits %#x set (no extension was agreed)", errClientFrame, rsv)
	}
	switch op {
	case opContinuation, opText, opBinary, opClose, opPing, opPong:
	default:
		return clientFrame{}, 0, fmt.Errorf("%w: reserved opcode %#x", errClientFrame, op)
	}
	if b1&0x80 == 0 {
		return clientFrame{}, 0, fmt.Errorf("%w: unmasked frame", errClientFrame)
	}
	length := uint64(b1 & 0x7f)
	n = 2
	switch length {
	case 126:
		if len(b) < n+2 {
			return clientFrame{}, 0, nil
		}
		length = uint64(binary.BigEndian.Uint16(b[n:]))
		n += 2
	case 127:
		if len(b) < n+8 {
			return clientFrame{}, 0, nil
		}
		length = binary.BigEndian.Uint64(b[n:])
		if length>>63 != 0 {
			return clientFrame{}, 0, fmt.Errorf("%w: frame length with the top bit set", errClientFrame)
		}
		n += 8
	}
	f.opcode = op
	if op&0x8 != 0 && (!fin || length > maxControlPayload) {
		return clientFrame{}, 0, fmt.Errorf("%w: control frame %#x fragmented or longer than %d bytes", errClientFrame, op, maxControlPayload)
	}
	if len(b) < n+4 {
		return clientFrame{}, 0, nil
	}
	mask := b[n : n+4]
	n += 4
	if !f.control() {
		return f, n, nil
	}
	end := n + int(length)
	if len(b) < end {
		return clientFrame{}, 0, nil
	}
	p := b[n:end]
	for i := range p {
		p[i] ^= mask[i&3]
	}
	f.payload = p
	if op == opClose {
		if _, _, err := parseClosePayload(p); err != nil {
			return clientFrame{}, 0, err
		}
	}
	return f, end, nil
}

// parseClosePayload reads a close frame's status code and reason; code is
// 0 when the frame carries none.
func parseClosePayload(p []byte) (code uint16, reason string, err error) {
	switch {
	case len(p) == 0:
		return 0, "", nil
	case len(p) == 1:
		return 0, "", fmt.Errorf("%w: close payload of one byte", errClientFrame)
	}
	code = binary.BigEndian.Uint16(p)
	if !validCloseCode(code) {
		return 0, "", fmt.Errorf("%w: close code %d", errClientFrame, code)
	}
	if !utf8.Valid(p[2:]) {
		return 0, "", fmt.Errorf("%w: close reason is not UTF-8", errClientFrame)
	}
	return code, string(p[2:]), nil
}

// validCloseCode reports whether a peer may send code (RFC 6455 section
// 7.4: 1004-1006 and 1015 are never sent, 1016-2999 are reserved).
func validCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// appendControlFrame appends an unmasked control frame; payload must be
// at most maxControlPayload bytes.
func appendControlFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op, byte(len(payload))) //nolint:gosec // at most maxControlPayload
	return append(dst, payload...)
}

// appendCloseFrame appends a close frame with code and reason, the reason
// cut to what fits.
func appendCloseFrame(dst []byte, code uint16, reason string) []byte {
	if len(reason) > maxControlPayload-2 {
		reason = reason[:maxControlPayload-2]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	dst = append(dst, 0x80|opClose, byte(2+len(reason))) //nolint:gosec // cut to maxControlPayload above
	dst = binary.BigEndian.AppendUint16(dst, code)
	return append(dst, reason...)
}
