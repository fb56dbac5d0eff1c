package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
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
	if st.h.ec == nil {
		// Not a hijacked socket (cannot happen with net/http).
		s.endStream(st)
		_ = conn.Close(websocket.StatusInternalError, "no socket")
		return nil
	}
	if m := s.eventMuxFor(st.h); m != nil {
		// A plain TCP socket: served by the mux, without goroutines.
		// Nothing answers through net/http any more: letting go of its
		// response lets go of the request, its headers and the
		// connection's 4 KiB buffers, most of what an idle socket would
		// otherwise keep.
		st.h.dropResponse()
		m.serve(conn, st, resume)
		return nil
	}
	sub, err := s.deps.Hub.Subscribe(resume, monitor.Queued())
	if err != nil {
		s.endStream(st)
		_ = conn.Close(websocket.StatusGoingAway, closeShutdown)
		return nil
	}
	// The stream outlives this handler: once it returns, net/http lets go
	// of the connection's request buffers and of the handler's deep stack,
	// most of what an idle subscriber would otherwise hold. The stream's
	// goroutine is owned by the server's stream registry: it ends with
	// endStream, which shutdown waits for.
	st.h.dropResponse()
	go s.serveEvents(context.WithoutCancel(r.Context()), conn, st, sub)
	return nil
}

// serveEvents runs one /events stream to its end and closes the socket
// with the reason.
func (s *Server) serveEvents(ctx context.Context, conn *websocket.Conn, st *openStream, sub *monitor.Subscription) {
	defer s.endStream(st)
	// The stream is write-only: CloseRead answers pings and close frames
	// and ends ctx when the client goes.
	ctx = conn.CloseRead(ctx)
	es := &eventStream{s: s, conn: conn, ec: st.h.ec, sub: sub, st: st}
	why, err := es.run(ctx)
	sub.CloseWith(why)
	switch why {
	case monitor.CloseSlow:
		s.closeBounded(conn, st.h, websocket.StatusPolicyViolation, closeTooSlow)
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
}

// eventStream is one /events socket's writer: it sends the first
// messages, then every change, whatever has piled up since its last write
// in one write of whole frames, each change's JSON encoded once for every
// subscriber (the event caches it).
type eventStream struct {
	s    *Server
	conn *websocket.Conn
	ec   *eventConn
	sub  *monitor.Subscription
	st   *openStream

	batch []monitor.Event
	out   []byte
	// behind is when the client was first found to leave more than the
	// server's eventBacklog unread in the kernel; zero while it keeps up.
	behind time.Time
	retry  *time.Timer
}

// keepOut is the largest frame buffer a stream keeps between writes; a
// backlog's bigger one goes back to the garbage collector.
const keepOut = 16 << 10

// retryBehind is how often a stream looks again at a client that has
// fallen behind.
const retryBehind = 100 * time.Millisecond

// run streams until the subscription or the connection ends, or the
// server ends the stream, and says why it ended.
func (e *eventStream) run(ctx context.Context) (monitor.CloseReason, error) {
	s, sub := e.s, e.sub
	if sub.Snapshot != nil {
		snap := *sub.Snapshot
		snap.Now = s.now()
		b, err := json.Marshal(snap)
		if err != nil {
			return monitor.CloseClientClosed, fmt.Errorf("encode snapshot: %w", err)
		}
		e.out = appendTextFrame(e.out, b)
	}
	for _, ev := range sub.Missed {
		if err := e.add(ev); err != nil {
			return monitor.CloseClientClosed, err
		}
	}
	if err := e.flush(); err != nil {
		return writeReason(ctx, err), err
	}
	ping := time.NewTicker(s.pingInterval)
	defer ping.Stop()
	e.retry = time.NewTimer(time.Hour)
	e.retry.Stop()
	defer e.retry.Stop()
	// A ping waits for its pong in a goroutine of its own, so that
	// changes keep flowing meanwhile; it ends before run returns.
	var pingDone chan error
	pingCtx, stopPing := context.WithCancel(ctx)
	defer func() {
		stopPing()
		if pingDone != nil {
			if err := <-pingDone; err != nil {
				s.log.Debug("events ping ended with the stream", "err", err)
			}
		}
	}()
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
		case <-e.st.ended:
			return monitor.CloseAuthExpired, nil
		case <-sub.Ready():
			if why, err := e.send(ctx); why != "" {
				return why, err
			}
		case <-e.retry.C:
			if why, err := e.send(ctx); why != "" {
				return why, err
			}
		case err := <-pingDone:
			pingDone = nil
			if err != nil {
				return writeReason(ctx, err), err
			}
		case <-ping.C:
			if p := e.st.p; p.sessionID != "" {
				// An open stream keeps its session alive; one whose session
				// expired ends (sign-out ends it at once, through st.ended).
				if !s.stillSignedIn(ctx, p) {
					s.metrics.socketsEnded.WithLabelValues(string(streamEvents), endExpired.label).Inc()
					return monitor.CloseAuthExpired, nil
				}
			}
			if pingDone == nil {
				// A client that does not answer within the write timeout
				// (one that stopped reading) is dropped as too slow.
				pingDone = make(chan error, 1)
				go func() {
					pctx, cancel := context.WithTimeout(pingCtx, s.writeTimeout)
					defer cancel()
					pingDone <- e.conn.Ping(pctx)
				}()
			}
		}
	}
}

// send writes every waiting event, unless the client has fallen behind:
// then the events wait in the subscription's bounded queue, and a client
// behind for longer than slowAfter is dropped, while its socket still
// has room for the close frame that says why. A non-empty reason ends
// the stream.
func (e *eventStream) send(ctx context.Context) (monitor.CloseReason, error) {
	s := e.s
	if !e.behind.IsZero() {
		if e.keepingUp() {
			e.behind = time.Time{}
		} else {
			if time.Since(e.behind) > s.slowAfter {
				return monitor.CloseSlow, nil
			}
			e.retry.Reset(retryBehind)
			return "", nil
		}
	}
	// Let the publisher finish the change in hand: a call comes with its
	// line's and extension's lamps, and one write then carries them all.
	runtime.Gosched()
	e.batch = e.sub.Take(e.batch[:0])
	for _, ev := range e.batch {
		if err := e.add(ev); err != nil {
			return monitor.CloseClientClosed, err
		}
	}
	if len(e.batch) > keepSpareEvents {
		e.batch = nil
	}
	if err := e.flush(); err != nil {
		return writeReason(ctx, err), err
	}
	if !e.keepingUp() {
		e.behind = time.Now()
		e.retry.Reset(retryBehind)
	}
	return "", nil
}

// keepSpareEvents is the largest batch array a stream keeps.
const keepSpareEvents = 64

// keepingUp reports whether the client has read all but the server's
// eventBacklog of what was written to it (or a quarter of the socket's
// send buffer, when that is smaller, so that a close frame still fits).
func (e *eventStream) keepingUp() bool {
	queued, sndbuf, ok := e.ec.backlog()
	if !ok {
		return true
	}
	return queued <= min(e.s.eventBacklog, sndbuf/4)
}

// add appends ev's frame.
func (e *eventStream) add(ev monitor.Event) error {
	b, err := ev.JSON()
	if err != nil {
		return err
	}
	e.out = appendTextFrame(e.out, b)
	return nil
}

// flush writes the frames added since the last flush, under the write
// timeout.
func (e *eventStream) flush() error {
	if len(e.out) == 0 {
		return nil
	}
	err := e.ec.writeFrames(e.out, time.Now().Add(e.s.writeTimeout))
	if cap(e.out) > keepOut {
		e.out = nil
	} else {
		e.out = e.out[:0]
	}
	return err
}

// writeReason classifies a failed write: a client that went away, or one
// too slow to take a message within the write timeout.
func writeReason(ctx context.Context, err error) monitor.CloseReason {
	if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)) {
		return monitor.CloseSlow
	}
	return monitor.CloseClientClosed
}
