package sipbridge

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DTMF in SIP INFO bodies. There is no RFC for them; these two forms are
// what phones and PBXs send (Cisco's application/dtmf-relay, and the
// bare application/dtmf of RFC 2976-era agents).

// Content types of SIP INFO DTMF.
const (
	contentDTMFRelay = "application/dtmf-relay"
	contentDTMF      = "application/dtmf"
)

// dtmfInfo is one key press read from an INFO body.
type dtmfInfo struct {
	// digit is the key, as one character of dtmfDigits.
	digit string
	// duration is the Duration line (milliseconds); 0 when absent.
	duration time.Duration
}

// maxDTMFBody bounds an INFO DTMF body.
const maxDTMFBody = 1024

// parseDTMFRelay reads an application/dtmf-relay body:
// "Signal=5\r\nDuration=160\r\n". Keys are case-insensitive, spaces
// around "=" are allowed, unknown lines are ignored. Signal is required;
// it is a key (0-9, *, #, A-D) or the event code of one (10 for *, 11 for
// #, as some gateways send). Anything else fails with ErrBadDTMFBody.
func parseDTMFRelay(b []byte) (dtmfInfo, error) {
	if len(b) > maxDTMFBody {
		return dtmfInfo{}, fmt.Errorf("%w: %d bytes", ErrBadDTMFBody, len(b))
	}
	var (
		info      dtmfInfo
		hasSignal bool
	)
	for _, line := range bytes.Split(b, []byte("\n")) {
		l := strings.TrimSpace(string(line))
		if l == "" {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return dtmfInfo{}, fmt.Errorf("%w: line %q", ErrBadDTMFBody, clip(l))
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch k {
		case "signal":
			if hasSignal {
				return dtmfInfo{}, fmt.Errorf("%w: two signals", ErrBadDTMFBody)
			}
			d, err := parseSignal(v)
			if err != nil {
				return dtmfInfo{}, err
			}
			info.digit, hasSignal = d, true
		case "duration":
			ms, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return dtmfInfo{}, fmt.Errorf("%w: duration %q", ErrBadDTMFBody, clip(v))
			}
			info.duration = time.Duration(ms) * time.Millisecond
		}
	}
	if !hasSignal {
		return dtmfInfo{}, fmt.Errorf("%w: no Signal line", ErrBadDTMFBody)
	}
	return info, nil
}

// parseDTMFBody reads an application/dtmf body: the key alone, "5".
func parseDTMFBody(b []byte) (dtmfInfo, error) {
	if len(b) > maxDTMFBody {
		return dtmfInfo{}, fmt.Errorf("%w: %d bytes", ErrBadDTMFBody, len(b))
	}
	d, err := parseSignal(strings.TrimSpace(string(b)))
	if err != nil {
		return dtmfInfo{}, err
	}
	return dtmfInfo{digit: d}, nil
}

// parseSignal reads one key, or the RFC 4733 event code of one.
func parseSignal(v string) (string, error) {
	if len(v) == 1 {
		if e, ok := digitEvent(v[0]); ok {
			d, _ := eventDigit(e)
			return d, nil
		}
	}
	if n, err := strconv.ParseUint(v, 10, 8); err == nil {
		if d, ok := eventDigit(uint8(n)); ok {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: signal %q", ErrBadDTMFBody, clip(v))
}

// dtmfRelayBody is the body of an INFO of ours for digit d held for dur.
func dtmfRelayBody(d byte, dur time.Duration) []byte {
	return []byte("Signal=" + string(d) + "\r\nDuration=" + strconv.FormatInt(dur.Milliseconds(), 10) + "\r\n")
}
