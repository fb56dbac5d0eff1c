package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/monitor"
)

// The /events WebSocket protocol (server to client only; see the README):
// first a snapshot, then one event envelope per change, both in the JSON
// form monitor defines (monitor.Snapshot, monitor.Event):
//
//	{"type":"snapshot","epoch":E,"seq":N,"now":T,"calls":[...],"sources":[...]}
//	{"type":"call","seq":N,"at":T,"call":{...}}
//	{"type":"source","seq":N,"at":T,"source":{...}}
//	{"type":"user","seq":N,"at":T,"event":{...}}
//
// and whatever else the kind table lists. A client that reconnects with
// ?since=SEQ&epoch=E gets the events after SEQ, or a fresh snapshot when
// they are no longer kept.

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
	resume := resumeFrom(r)
	conn, st, ok := s.acceptStream(w, r, streamEvents)
	if !ok {
		return nil
	}
	defer s.endStream(st)
	sub, err := s.deps.Hub.Subscribe(resume)
	if err != nil {
		_ = conn.Close(websocket.StatusGoingAway, closeShutdown)
		return nil
	}
	// The stream is write-only: CloseRead answers pings and close frames
	// and ends ctx when the client goes.
	ctx := conn.CloseRead(r.Context())
	why, err := s.stream(ctx, conn, sub, st)
	sub.CloseWith(why)
	switch why {
	case monitor.CloseSlow:
		_ = conn.Close(websocket.StatusPolicyViolation, closeTooSlow)
	case monitor.CloseShutdown:
		_ = conn.Close(websocket.StatusGoingAway, closeShutdown)
	case monitor.CloseAuthExpired:
		// Ended by the server (sign-out, changed credentials) or found
		// expired: a client that ignores the close is cut off soon.
		end := endExpired
		select {
		case <-st.ended:
			end = st.why
		default:
		}
		s.closeBounded(conn, st.h, end.code, end.reason)
	default:
		_ = conn.CloseNow()
	}
	s.log.Debug("events stream ended", "user", st.p.user.Name, "reason", why, "err", err)
	return nil
}

// stream writes the first messages and then every change until the
// subscription or the connection ends, or the server ends the stream,
// and says why it ended.
func (s *Server) stream(ctx context.Context, conn *websocket.Conn, sub *monitor.Subscription, st *openStream) (monitor.CloseReason, error) {
	p := st.p
	if sub.Snapshot != nil {
		snap := *sub.Snapshot
		snap.Now = s.now()
		b, err := json.Marshal(snap)
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
		case <-st.ended:
			return monitor.CloseAuthExpired, nil
		case ev := <-sub.Events():
			if why, err := s.writeEvent(ctx, conn, ev); err != nil {
				return why, err
			}
		case <-ping.C:
			if p.sessionID != "" {
				// An open stream keeps its session alive; one whose session
				// expired ends (sign-out ends it at once, through st.ended).
				if !s.stillSignedIn(ctx, p) {
					s.metrics.socketsEnded.WithLabelValues(string(streamEvents), endExpired.label).Inc()
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

// writeEvent sends ev's envelope, encoded once for every subscriber (the
// event caches its JSON).
func (s *Server) writeEvent(ctx context.Context, conn *websocket.Conn, ev monitor.Event) (monitor.CloseReason, error) {
	b, err := ev.JSON()
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
