package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/monitor"
)

// The /events WebSocket protocol (server to client only; see the README):
//
//	{"type":"snapshot","epoch":E,"seq":N,"now":T,"calls":[...],"sources":[...]}
//	{"type":"call","seq":N,"call":{...}}
//	{"type":"source","seq":N,"source":{...}}
//	{"type":"user","seq":N,"event":{...}}
//
// A client that reconnects with ?since=SEQ&epoch=E gets the events after
// SEQ, or a fresh snapshot when they are no longer kept.

// snapshotMessage is the first message of a stream that does not resume.
type snapshotMessage struct {
	Type    string                 `json:"type"`
	Epoch   string                 `json:"epoch"`
	Seq     uint64                 `json:"seq"`
	Now     time.Time              `json:"now"`
	Calls   []monitor.Call         `json:"calls"`
	Sources []monitor.SourceStatus `json:"sources"`
}

// eventMessage is one change.
type eventMessage struct {
	Type   monitor.EventType     `json:"type"`
	Seq    uint64                `json:"seq"`
	Call   *monitor.Call         `json:"call,omitempty"`
	Source *monitor.SourceStatus `json:"source,omitempty"`
	Event  *monitor.UserEvent    `json:"event,omitempty"`
}

// Close reasons sent to clients.
const (
	closeTooSlow  = "too slow"
	closeShutdown = "server shutting down"
	closeExpired  = "session expired"
)

// encodeCache keeps the JSON of recent events so that a change fanned out
// to thousands of subscribers is encoded once, not once per subscriber.
type encodeCache struct {
	slots [1024]atomic.Pointer[encoded]
}

type encoded struct {
	seq uint64
	b   []byte
}

func newEncodeCache() *encodeCache { return new(encodeCache) }

func (c *encodeCache) encode(ev monitor.Event) ([]byte, error) {
	slot := &c.slots[ev.Seq%uint64(len(c.slots))]
	if e := slot.Load(); e != nil && e.seq == ev.Seq {
		return e.b, nil
	}
	m := eventMessage{Type: ev.Type, Seq: ev.Seq, Call: ev.Call, Source: ev.Source, Event: ev.User}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode event %d: %w", ev.Seq, err)
	}
	slot.Store(&encoded{seq: ev.Seq, b: b})
	return b, nil
}

// resumeFrom reads ?since=SEQ&epoch=E; nil when absent or malformed, which
// gets the client a snapshot.
func resumeFrom(r *http.Request) *monitor.Resume {
	q := r.URL.Query()
	epoch, since := q.Get("epoch"), q.Get("since")
	if epoch == "" || since == "" {
		return nil
	}
	n, err := strconv.ParseUint(since, 10, 64)
	if err != nil {
		return nil
	}
	return &monitor.Resume{Epoch: epoch, Since: n}
}

// events serves the /events WebSocket. The caller is authenticated; the
// upgrade checks Origin against the server's host and allowed_origins.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	conn, end, ok := s.acceptStream(w, r, "events")
	if !ok {
		return nil
	}
	defer end()
	sub, err := s.deps.Hub.Subscribe(resumeFrom(r))
	if err != nil {
		_ = conn.Close(websocket.StatusGoingAway, closeShutdown)
		return nil
	}
	p, _ := r.Context().Value(principalKey{}).(principal)
	// The stream is write-only: CloseRead answers pings and close frames
	// and ends ctx when the client goes.
	ctx := conn.CloseRead(r.Context())
	why, err := s.stream(ctx, conn, sub, p)
	sub.CloseWith(why)
	switch why {
	case monitor.CloseSlow:
		_ = conn.Close(websocket.StatusPolicyViolation, closeTooSlow)
	case monitor.CloseShutdown:
		_ = conn.Close(websocket.StatusGoingAway, closeShutdown)
	case monitor.CloseAuthExpired:
		_ = conn.Close(websocket.StatusPolicyViolation, closeExpired)
	default:
		_ = conn.CloseNow()
	}
	s.log.Debug("events stream ended", "user", p.user.Name, "reason", why, "err", err)
	return nil
}

// stream writes the first messages and then every change until the
// subscription or the connection ends, and says why it ended.
func (s *Server) stream(ctx context.Context, conn *websocket.Conn, sub *monitor.Subscription, p principal) (monitor.CloseReason, error) {
	if sub.Snapshot != nil {
		snap := sub.Snapshot
		b, err := json.Marshal(snapshotMessage{Type: "snapshot", Epoch: snap.Epoch, Seq: snap.Seq, Now: s.now(), Calls: snap.Calls, Sources: snap.Sources})
		if err != nil {
			return monitor.CloseClientClosed, fmt.Errorf("encode snapshot: %w", err)
		}
		if err := s.write(ctx, conn, b); err != nil {
			return writeReason(ctx, err), err
		}
	}
	for _, ev := range sub.Missed {
		if why, err := s.writeEvent(ctx, conn, ev); err != nil {
			return why, err
		}
	}
	ping := time.NewTicker(s.pingInterval)
	defer ping.Stop()
	for {
		// A dropped subscription wins over the events still queued for it.
		select {
		case <-sub.Done():
			return sub.Reason(), nil
		default:
		}
		select {
		case <-sub.Done():
			return sub.Reason(), nil
		case <-ctx.Done():
			return monitor.CloseClientClosed, ctx.Err()
		case <-s.stop:
			return monitor.CloseShutdown, nil
		case ev := <-sub.Events():
			if why, err := s.writeEvent(ctx, conn, ev); err != nil {
				return why, err
			}
		case <-ping.C:
			if p.sessionID != "" {
				// An open stream keeps its session alive; a signed-out one
				// ends.
				if _, ok := s.sessions.touch(p.sessionID); !ok {
					return monitor.CloseAuthExpired, nil
				}
			}
			pctx, cancel := context.WithTimeout(ctx, s.writeTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return writeReason(ctx, err), err
			}
		}
	}
}

func (s *Server) writeEvent(ctx context.Context, conn *websocket.Conn, ev monitor.Event) (monitor.CloseReason, error) {
	b, err := s.encoded.encode(ev)
	if err != nil {
		return monitor.CloseClientClosed, err
	}
	if err := s.write(ctx, conn, b); err != nil {
		return writeReason(ctx, err), err
	}
	return "", nil
}

// write sends one message under its own deadline.
func (s *Server) write(ctx context.Context, conn *websocket.Conn, b []byte) error {
	wctx, cancel := context.WithTimeout(ctx, s.writeTimeout)
	defer cancel()
	return conn.Write(wctx, websocket.MessageText, b)
}

// writeReason classifies a failed write: a client that went away, or one
// too slow to take a message within the write timeout.
func writeReason(ctx context.Context, err error) monitor.CloseReason {
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return monitor.CloseSlow
	}
	return monitor.CloseClientClosed
}
