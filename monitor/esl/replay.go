package esl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/percipia/eslgo/command"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/internal/flatjson"
)

// Replay feeds a recording (one JSON event object per line, as
// FreeSWITCH's `event json` sends them and Record writes them) through a
// tracker as fast as it can. Blank lines are skipped; a line that is not
// an event is an error naming the line.
func Replay(ctx context.Context, name monitor.SourceName, r io.Reader, sink monitor.Sink) error {
	tr := NewTracker(name, sink, nil)
	return decodeRecording(ctx, r, true, tr.Handle)
}

// tracked are the headers the tracker reads. A replay decodes only
// these (and, of CUSTOM events, which pass on as user events, every
// header but the channel variables): a FreeSWITCH channel event carries
// a few hundred others.
var tracked = map[string]bool{
	hEventName: true, hSubclass: true, hTimestamp: true, hUniqueID: true, hCallUUID: true, hDirection: true,
	hChannelName: true, hCallState: true, hOrigCallState: true, hAnswerState: true, hCallerNumber: true,
	hCallerName: true, hCalleeNumber: true, hCalleeName: true, hDestination: true, hContext: true,
	hUsername: true, hOtherLeg: true, hBridgeA: true, hBridgeB: true, hBridgedTo: true, hHangupCause: true,
	hQ850: true, hTransferSource: true, hJobUUID: true, hPrivacy: true, hGateway: true,
	"Variable_dialed_user": true, "Variable_privacy": true, "Variable_switchboard_to": true,
	"Variable_cc_queue": true, "Variable_sofia_profile_name": true,
	"Other-Leg-Callee-Id-Number": true, "Other-Leg-Destination-Number": true, "Other-Leg-Callee-Id-Name": true,
	// PRESENCE_IN (state.go).
	"From": true, "Login": true, "Status": true, "Rpid": true, "Presence-Call-Info-State": true,
}

// header is what a replay knows of a header name as it is spelt.
type header struct {
	canonical string
	tracked   bool
	variable  bool
}

// decodeRecording calls fn with every event of a recording; with only
// the tracker's headers when trackedOnly.
func decodeRecording(ctx context.Context, r io.Reader, trackedOnly bool, fn func(Event)) error {
	s := flatjson.NewScanner(r)
	headers := map[string]header{}
	for {
		members, err := s.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("esl replay: event %d: %w", s.Count()+1, err)
		}
		if s.Count()&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		custom := false
		for _, m := range members {
			if m.Key == "Event-Name" {
				custom = m.Value == "CUSTOM"
				break
			}
		}
		e := make(Event, 32)
		for _, m := range members {
			h, ok := headers[m.Key]
			if !ok {
				c := canonicalKey(m.Key)
				h = header{canonical: c, tracked: tracked[c], variable: strings.HasPrefix(c, "Variable_")}
				if len(headers) < maxCanonical {
					headers[m.Key] = h
				}
			}
			if trackedOnly && !h.tracked && (!custom || h.variable) {
				continue
			}
			if v, ok := memberValue(m); ok {
				e[h.canonical] = v
			}
		}
		if e[hEventName] == "" {
			return fmt.Errorf("esl replay: event %d: esl: event without Event-Name", s.Count())
		}
		fn(e)
	}
}

// Record writes every event the tracker would see, and every CUSTOM
// event, of one inbound connection as one JSON object per line until ctx
// ends or the link drops, and returns how many it wrote. The lines are
// what Replay reads.
func Record(ctx context.Context, addr, password string, w io.Writer) (int, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "8021")
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("connect %s: %w", addr, err)
	}
	events := make(chan Event, 4096)
	conn, err := Auth(dctx, nc, password, func(e Event) {
		select {
		case events <- e:
		default:
			nc.Close() // the disk cannot keep up: stop rather than lose events silently
		}
	})
	if err != nil {
		nc.Close()
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.Command(dctx, command.Event{Format: "json", Listen: []string{"ALL"}}); err != nil {
		return 0, err
	}
	return monitor.RecordJSONLines(ctx, events, conn.Done(), conn.Err, w)
}
