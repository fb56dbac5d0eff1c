package esl

import (
	"encoding/json"
	"fmt"
	"io"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/percipia/eslgo"

	"github.com/switchboard/switchboard/monitor/internal/flatjson"
)

// Event is one FreeSWITCH event: its headers, keys in canonical MIME form
// ("Unique-Id", "Variable_call_uuid") whichever format it arrived in, and
// values decoded. A body, if any, is under "_body".
type Event map[string]string

// Header names, canonical.
const (
	hEventName      = "Event-Name"
	hSubclass       = "Event-Subclass"
	hTimestamp      = "Event-Date-Timestamp"
	hUniqueID       = "Unique-Id"
	hCallUUID       = "Channel-Call-Uuid"
	hDirection      = "Call-Direction"
	hChannelName    = "Channel-Name"
	hCallState      = "Channel-Call-State"
	hOrigCallState  = "Original-Channel-Call-State"
	hAnswerState    = "Answer-State"
	hCallerNumber   = "Caller-Caller-Id-Number"
	hCallerName     = "Caller-Caller-Id-Name"
	hCalleeNumber   = "Caller-Callee-Id-Number"
	hCalleeName     = "Caller-Callee-Id-Name"
	hDestination    = "Caller-Destination-Number"
	hContext        = "Caller-Context"
	hUsername       = "Caller-Username"
	hOtherLeg       = "Other-Leg-Unique-Id"
	hBridgeA        = "Bridge-A-Unique-Id"
	hBridgeB        = "Bridge-B-Unique-Id"
	hBridgedTo      = "Bridged-To"
	hHangupCause    = "Hangup-Cause"
	hQ850           = "Variable_hangup_cause_q850"
	hTransferSource = "Variable_transfer_source"
	hJobUUID        = "Job-Uuid"
	hBody           = "_body"
	hPrivacy        = "Caller-Privacy-Hide-Number"
	hGateway        = "Variable_sip_gateway_name"
)

// Get returns the value of header name, given in any case.
func (e Event) Get(name string) string { return e[textproto.CanonicalMIMEHeaderKey(name)] }

// Name is the event's name (CHANNEL_CREATE), or for CUSTOM events its
// subclass (sofia::transferor).
func (e Event) Name() string {
	if n := e[hEventName]; n != "CUSTOM" || e[hSubclass] == "" {
		return n
	}
	return e[hSubclass]
}

// Time is when FreeSWITCH raised the event (Event-Date-Timestamp,
// microseconds since the epoch), or the zero time.
func (e Event) Time() time.Time {
	us, err := strconv.ParseInt(e[hTimestamp], 10, 64)
	if err != nil || us <= 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

// ParseEvent decodes the event a text/event-json or text/event-plain
// message carries.
func ParseEvent(msg *eslgo.RawResponse) (Event, error) {
	switch ct := msg.Headers.Get("Content-Type"); ct {
	case TypeEventJSON:
		return parseJSONEvent(msg.Body)
	case TypeEventPlain:
		return parsePlainEvent(msg.Body)
	default:
		return nil, fmt.Errorf("esl: %q is not an event", ct)
	}
}

// parseJSONEvent decodes FreeSWITCH's JSON event: an object of strings
// (and, for some headers that repeat, arrays of strings, of which the
// first counts).
func parseJSONEvent(b []byte) (Event, error) {
	buf := memberBufs.Get().(*[]flatjson.Member)
	defer memberBufs.Put(buf)
	members, err := flatjson.Decode(*buf, b)
	if err != nil {
		return nil, fmt.Errorf("esl: json event: %w", err)
	}
	*buf = members[:0]
	e := make(Event, len(members))
	for _, m := range members {
		if v, ok := memberValue(m); ok {
			e[canonicalKey(m.Key)] = v
		}
	}
	if e[hEventName] == "" {
		return nil, fmt.Errorf("esl: event without Event-Name")
	}
	return e, nil
}

// memberBufs keeps the members slices of decoded events for the next.
var memberBufs = sync.Pool{New: func() any { return new([]flatjson.Member) }}

// memberValue is the header value a JSON member gives: a string as it
// is, the first of an array, a number or boolean as written; null none.
func memberValue(m flatjson.Member) (string, bool) {
	switch m.Kind {
	case flatjson.String, flatjson.Number, flatjson.Bool:
		return m.Value, true
	case flatjson.Array:
		var vs []any
		if err := json.Unmarshal([]byte(m.Value), &vs); err != nil || len(vs) == 0 || vs[0] == nil {
			return "", false
		}
		if s, ok := vs[0].(string); ok {
			return s, true
		}
		return fmt.Sprint(vs[0]), true
	}
	return "", false
}

// canonical caches the canonical form of the header names FreeSWITCH
// sends ("Unique-ID" → "Unique-Id", "variable_call_uuid" →
// "Variable_call_uuid"): a few hundred names, asked for on every event.
var canonical = struct {
	sync.RWMutex
	m map[string]string
}{m: map[string]string{}}

// maxCanonical bounds the cache: channel variables are the dialplan's to
// name.
const maxCanonical = 16 << 10

// canonicalKey is textproto.CanonicalMIMEHeaderKey(k), cached.
func canonicalKey[T string | []byte](k T) string {
	canonical.RLock()
	c, ok := canonical.m[string(k)]
	canonical.RUnlock()
	if ok {
		return c
	}
	c = textproto.CanonicalMIMEHeaderKey(string(k))
	canonical.Lock()
	if len(canonical.m) < maxCanonical {
		canonical.m[string(k)] = c
	}
	canonical.Unlock()
	return c
}

func eventFromMap(raw map[string]any) (Event, error) {
	e := make(Event, len(raw))
	for k, v := range raw {
		key := textproto.CanonicalMIMEHeaderKey(k)
		switch v := v.(type) {
		case string:
			e[key] = v
		case []any:
			if len(v) > 0 {
				e[key] = fmt.Sprint(v[0])
			}
		case nil:
		default:
			e[key] = fmt.Sprint(v)
		}
	}
	if e[hEventName] == "" {
		return nil, fmt.Errorf("esl: event without Event-Name")
	}
	return e, nil
}

// parsePlainEvent decodes a text/event-plain body: URL-encoded header
// lines, an empty line, and an optional body of Content-Length bytes.
// The headers' values share one copy of b.
func parsePlainEvent(b []byte) (Event, error) {
	whole := string(b)
	e := make(Event, 64)
	i, n := 0, 0
	for {
		if i >= len(whole) {
			break // the last block of a body may lack its blank line
		}
		j := strings.IndexByte(whole[i:], '\n')
		line := whole[i:]
		next := len(whole)
		if j >= 0 {
			line, next = whole[i:i+j], i+j+1
		}
		line = strings.TrimRight(line, "\r")
		i = next
		if line == "" {
			break
		}
		if len(line) > maxLine {
			return nil, fmt.Errorf("esl: header line over %d bytes: %w", maxLine, ErrTooLarge)
		}
		if n++; n > maxHeaders {
			return nil, fmt.Errorf("esl: more than %d headers: %w", maxHeaders, ErrTooLarge)
		}
		k, v, ok := strings.Cut(line, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("esl: %w: header line %q", ErrMalformed, truncate([]byte(line)))
		}
		key := canonicalKey(k)
		if _, dup := e[key]; !dup {
			e[key] = decodeValue(strings.TrimSpace(v))
		}
	}
	if cl := e["Content-Length"]; cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > len(b) {
			return nil, fmt.Errorf("esl: plain event: bad Content-Length %q", cl)
		}
		if len(whole)-i < n {
			return nil, fmt.Errorf("esl: plain event body: %w", io.ErrUnexpectedEOF)
		}
		e[hBody] = whole[i : i+n]
		delete(e, "Content-Length")
	}
	if e[hEventName] == "" {
		return nil, fmt.Errorf("esl: event without Event-Name")
	}
	return e, nil
}

// headerEvent decodes a message's own headers as an event: the channel
// data FreeSWITCH sends in reply to an outbound socket's "connect".
func headerEvent(h textproto.MIMEHeader) Event {
	e := make(Event, len(h))
	for k, vs := range h {
		e[k] = decodeValue(vs[0])
	}
	return e
}

// decodeValue undoes FreeSWITCH's URL encoding of plain header values
// (switch_url_encode: %XX escapes, spaces as %20, '+' left alone).
func decodeValue(v string) string {
	if strings.IndexByte(v, '%') < 0 {
		return v
	}
	if d, err := url.PathUnescape(v); err == nil {
		return d
	}
	return v
}
