package esl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/textproto"
	"net/url"
	"strconv"
	"time"

	"github.com/percipia/eslgo"
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
// (and, for some headers that repeat, arrays of strings).
func parseJSONEvent(b []byte) (Event, error) {
	// Nearly every event is all strings; decoding straight into strings
	// is several times faster than into interfaces.
	var flat map[string]string
	if err := json.Unmarshal(b, &flat); err == nil {
		return eventFromStrings(flat)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("esl: json event: %w", err)
	}
	return eventFromMap(raw)
}

func eventFromStrings(flat map[string]string) (Event, error) {
	e := make(Event, len(flat))
	for k, v := range flat {
		e[textproto.CanonicalMIMEHeaderKey(k)] = v
	}
	if e[hEventName] == "" {
		return nil, fmt.Errorf("esl: event without Event-Name")
	}
	return e, nil
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
func parsePlainEvent(b []byte) (Event, error) {
	br := bufio.NewReaderSize(bytes.NewReader(b), maxLine)
	h, bad, err := readHeader(br, false)
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, err
	}
	e := make(Event, len(h))
	for k, vs := range h {
		e[k] = decodeValue(vs[0])
	}
	if cl := e["Content-Length"]; cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > len(b) {
			return nil, fmt.Errorf("esl: plain event: bad Content-Length %q", cl)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			return nil, fmt.Errorf("esl: plain event body: %w", noEOF(err))
		}
		e[hBody] = string(body)
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
	if d, err := url.PathUnescape(v); err == nil {
		return d
	}
	return v
}
