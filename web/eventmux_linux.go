package web

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"

	"github.com/switchboard/switchboard/monitor"
)

// eventMux serves the /events sockets of plain TCP connections without a
// goroutine, a timer or a buffer of their own: after the handshake one
// poller watches every socket (epoll) for what the client sends (pongs,
// pings, its close frame) and for room to write again, the hub hands a
// subscriber on when changes wait for it, and a few writers (two for
// each core) write each one's frames with non-blocking writes
// from a buffer of their own. Only a subscriber whose socket is full
// keeps what is left of its frames; the rest of its backlog waits in its
// bounded hub queue. A server with ten thousand wall screens thus holds
// a few hundred bytes per idle one instead of two goroutines' stacks.
//
// The poller also sweeps the sockets every muxSweep: pings that are
// due, pongs, writes and backlogs that are overdue, streams the server
// ended (sign-out) and the shutdown. The mux's goroutines count among
// the server's streams; they end when the last socket is closed (at the
// latest at shutdown).
type eventMux struct {
	s    *Server
	epfd int
	// ep is epfd as a file of the runtime's poller: the poller goroutine
	// waits for epfd to have events there, instead of in epoll_wait (see
	// poll).
	ep     *os.File
	eprc   syscall.RawConn
	wakefd int // an eventfd: wakes the poller for a timer sooner than its wait
	// sleepUntil is when the poller's wait ends (UnixNano).
	sleepUntil atomic.Int64

	mu   sync.Mutex
	subs map[int32]*muxSub // by socket
	// dues are the sockets' due times side by side, for the sweep (a
	// socket's slot is its place in them); free are the slots of sockets
	// gone.
	dues   []*dueChunk
	free   []int32
	runq   []*muxSub
	idle   int // writers waiting on cond
	cond   *sync.Cond
	closed bool // set once the server stopped and the last socket closed

	// soonest is the earliest UnixNano a socket asked the sweep for since
	// the last sweep (0: none); the poller wakes for it.
	soonest atomic.Int64

	// joining counts the sockets eventMuxFor handed to the mux that are
	// not added yet (changed under the slot's lock or m.mu with it).
	joining atomic.Int32

	// checks are the sign-in checks in flight (one per socket at most);
	// writers the writers.
	checks  sync.WaitGroup
	writers sync.WaitGroup
}

// eventMuxSlot is the server's eventMux, started with the first socket
// it serves; it ends when its last socket is closed, and the next socket
// starts another.
type eventMuxSlot struct {
	mu     sync.Mutex
	m      *eventMux
	failed bool
}

// muxSweep is how often the poller looks for timers that are due.
const muxSweep = 100 * time.Millisecond

// dueChunk holds the due times of dueChunkSize sockets side by side: the
// sweep reads ten thousand of them ten times a second in one pass over
// contiguous memory instead of touching every socket's state (one cache
// miss each, which the profile showed as the poller's main cost).
type dueChunk struct {
	due [dueChunkSize]atomic.Int64 // UnixNano; 0 for never
	sub [dueChunkSize]*muxSub      // nil for a free slot
}

const dueChunkSize = 512

// coalesceMax is how many waiting changes end a hold early: a write of
// eight frames (a few KB) already shares its system call eight ways, so
// holding on for more would add latency and save little.
const coalesceMax = 8

// writerScratch is the frame buffer each writer keeps.
const writerScratch = 64 << 10

// eventMuxFor returns the mux that serves h's socket, nil when it cannot
// (a TLS connection, which the stream serves through crypto/tls, or an
// epoll the kernel refused). The caller holds a registered stream and
// must call serve.
func (s *Server) eventMuxFor(h *hijackRecorder) *eventMux {
	if plainTCP(h.conn) == nil {
		return nil
	}
	slot := &s.evmux
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if slot.failed {
		return nil
	}
	if slot.m == nil {
		m, err := newEventMux(s)
		if err != nil {
			slot.failed = true
			s.log.Warn("events: no epoll; every /events socket gets goroutines of its own", "err", err)
			return nil
		}
		slot.m = m
	}
	slot.m.joining.Add(1)
	return slot.m
}

// plainTCP returns the TCP connection c is, beneath the connection caps
// only; nil for anything else (TLS above all).
func plainTCP(c net.Conn) *net.TCPConn {
	for {
		switch w := c.(type) {
		case *capConn:
			c = w.Conn
		case *net.TCPConn:
			return w
		default:
			return nil
		}
	}
}

func newEventMux(s *Server) (*eventMux, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, err
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}); err != nil { //nolint:gosec // a descriptor fits int32
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, err
	}
	// Non-blocking, the epoll descriptor is a file the runtime's poller
	// watches (an epoll descriptor is readable while it has events).
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, err
	}
	ep := os.NewFile(uintptr(epfd), "events-epoll")
	eprc, err := ep.SyscallConn()
	if err == nil {
		// Fails (os.ErrNoDeadline) when the runtime's poller did not take
		// the descriptor: the poller could not wait with a timeout.
		err = ep.SetReadDeadline(time.Time{})
	}
	if err != nil {
		_ = ep.Close()
		_ = unix.Close(wakefd)
		return nil, err
	}
	m := &eventMux{s: s, epfd: epfd, ep: ep, eprc: eprc, wakefd: wakefd, subs: map[int32]*muxSub{}}
	m.cond = sync.NewCond(&m.mu)
	// Two writers per core: one that waits for the hub's lock (a publish
	// to every subscriber holds it) or sits in a write leaves the core to
	// the other.
	writers := 2 * runtime.GOMAXPROCS(0)
	// Legal although the shutdown may be waiting: the caller's stream
	// keeps the count above zero.
	s.streams.Add(1 + writers)
	go m.poll()
	m.writers.Add(writers)
	for range writers {
		go m.write()
	}
	return m, nil
}

// Scheduling states of a muxSub: idle, queued or being run, and run
// again once the run in progress is over.
const (
	subIdle int32 = iota
	subQueued
	subAgain
)

// muxSub is one /events socket the mux serves. Its fields below the
// line belong to the writer running it; state makes sure that is one at
// a time.
type muxSub struct {
	m   *eventMux
	st  *openStream
	sub *monitor.Subscription
	ws  *websocket.Conn // kept: the library closes a socket it forgets
	raw syscall.RawConn
	fd  int32

	state    atomic.Int32
	readable atomic.Bool
	due      *atomic.Int64 // UnixNano the sweep runs it at (its slot in dues); 0 for never
	slot     int32
	checking atomic.Bool // a sign-in check is in flight
	expired  atomic.Bool // the check found the sign-in gone
	ended    atomic.Bool // the server ended the stream (st.ended is closed)
	forced   atomic.Bool // a forced shutdown cuts the connection

	// ---

	out   []byte // frames a full socket did not take yet
	in    []byte // the start of a client frame not read whole yet
	batch []monitor.Event

	nextPing time.Time
	pongBy   time.Time // zero unless a ping awaits its pong
	stuck    time.Time // when the socket first refused part of out
	// lastData is when changes were last written; hold, when set, is
	// when the changes waiting now go out (coalescing).
	lastData time.Time
	hold     time.Time
	behind   time.Time // when the kernel was first found holding too much
	// unchecked bounds what the kernel may hold: what it held at the
	// last look plus what was written since; limit is what it may hold.
	unchecked int
	limit     int

	why       monitor.CloseReason // set when the stream ends
	closeBy   time.Time           // the stream is ending; cut then
	closeSent bool                // the close frame is appended
	peerClose bool                // the client's close frame arrived
	// discard drops what the client sends once it sent what it must
	// not: the stream is closing, and its input is not kept.
	discard  bool
	gone     bool // the connection failed: no more writes
	finished bool
}

// serve runs conn's stream on the mux from here on; it subscribes,
// sends the first messages and returns.
func (m *eventMux) serve(conn *websocket.Conn, st *openStream, resume *monitor.Resume) {
	s := m.s
	joined := false
	defer func() {
		if !joined {
			m.joining.Add(-1)
		}
	}()
	tcp := plainTCP(st.h.conn)
	raw, err := tcp.SyscallConn()
	if err != nil {
		s.endStream(st)
		_ = conn.CloseNow()
		return
	}
	c := &muxSub{m: m, st: st, ws: conn, raw: raw, due: new(atomic.Int64), slot: -1}
	_ = raw.Control(func(fd uintptr) { c.fd = int32(fd) }) //nolint:gosec // a descriptor fits int32
	// Held as queued while it is set up: what the hub hands on meanwhile
	// waits for the first run.
	c.state.Store(subQueued)
	sub, err := s.deps.Hub.Subscribe(resume, monitor.Notify(c.schedule), monitor.NotifyBacklog(coalesceMax))
	if err != nil {
		s.endStream(st)
		s.closeBounded(conn, st.h, websocket.StatusGoingAway, closeShutdown)
		return
	}
	c.sub = sub
	if sub.Snapshot != nil {
		snap := *sub.Snapshot
		snap.Now = s.now()
		b, err := json.Marshal(snap)
		if err != nil {
			s.log.Error("events: encode snapshot", "err", err)
			sub.CloseWith(monitor.CloseClientClosed)
			s.endStream(st)
			_ = conn.CloseNow()
			return
		}
		c.out = appendTextFrame(c.out, b)
	}
	for _, ev := range sub.Missed {
		if b, err := ev.JSON(); err == nil {
			c.out = appendTextFrame(c.out, b)
		}
	}
	sub.Missed = nil
	sub.Snapshot = nil
	if len(st.h.pending) > 0 {
		c.in = st.h.pending
		c.readable.Store(true)
	}
	st.h.pending = nil
	c.nextPing = time.Now().Add(s.pingInterval)
	c.limit = min(s.eventBacklog, 16<<10) // until the kernel tells
	joined = true
	if !m.add(c) {
		sub.CloseWith(monitor.CloseShutdown)
		s.closeBounded(conn, st.h, websocket.StatusGoingAway, closeShutdown)
		s.endStream(st)
		return
	}
	// A sign-out ends the stream through st.ended: have it run c then
	// instead of the sweep looking at every stream's channel. (c is held
	// as queued here, so an ended stream only marks it to run again.)
	st.watchEnd(func() {
		c.ended.Store(true)
		c.schedule()
	})
	// From here the writers read and write c.fd directly (writeSys):
	// only the writer running c closes the socket, and a forced shutdown
	// asks it to.
	st.h.ownClose(func() {
		c.forced.Store(true)
		c.schedule()
	})
	m.push(c)
}

// add registers c with the poller; false once the mux has closed.
func (m *eventMux) add(c *muxSub) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer m.joining.Add(-1)
	if m.closed {
		return false
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: c.fd}
	var err error
	if cerr := c.raw.Control(func(fd uintptr) { err = unix.EpollCtl(m.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		m.s.log.Warn("events: socket not added to the poller", "err", err)
		return false
	}
	m.subs[c.fd] = c
	if n := len(m.free); n > 0 {
		c.slot = m.free[n-1]
		m.free = m.free[:n-1]
	} else {
		c.slot = int32(len(m.dues) * dueChunkSize) //nolint:gosec // sockets fit int32
		m.dues = append(m.dues, new(dueChunk))
		for i := dueChunkSize - 1; i > 0; i-- {
			m.free = append(m.free, c.slot+int32(i))
		}
	}
	ch := m.dues[c.slot/dueChunkSize]
	c.due = &ch.due[c.slot%dueChunkSize]
	ch.sub[c.slot%dueChunkSize] = c
	return true
}

// remove takes c off the poller, before its socket is closed.
func (m *eventMux) remove(c *muxSub) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_ = c.raw.Control(func(fd uintptr) { _ = unix.EpollCtl(m.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	if m.subs[c.fd] == c {
		delete(m.subs, c.fd)
	}
	if c.slot >= 0 {
		c.due.Store(0)
		m.dues[c.slot/dueChunkSize].sub[c.slot%dueChunkSize] = nil
		m.free = append(m.free, c.slot)
		c.slot = -1
	}
}

// schedule hands c to a writer, or has the writer running it run it once
// more. The hub calls it under its lock: it never waits.
func (c *muxSub) schedule() {
	for {
		switch c.state.Load() {
		case subIdle:
			if c.state.CompareAndSwap(subIdle, subQueued) {
				c.m.push(c)
				return
			}
		case subQueued:
			if c.state.CompareAndSwap(subQueued, subAgain) {
				return
			}
		default:
			return
		}
	}
}

// push queues c for a writer.
func (m *eventMux) push(c *muxSub) {
	m.mu.Lock()
	m.runq = append(m.runq, c)
	if m.idle > 0 {
		m.cond.Signal()
	}
	m.mu.Unlock()
}

// writeBatch is how many queued sockets a writer takes at a time.
const writeBatch = 32

// write is one writer: it runs queued sockets until the mux closes.
func (m *eventMux) write() {
	defer m.s.streams.Done()
	defer m.writers.Done()
	scratch := make([]byte, 0, writerScratch)
	var batch []*muxSub
	for {
		m.mu.Lock()
		for len(m.runq) == 0 && !m.closed {
			m.idle++
			m.cond.Wait()
			m.idle--
		}
		if len(m.runq) == 0 {
			m.mu.Unlock()
			return
		}
		n := min(len(m.runq), writeBatch)
		batch = append(batch[:0], m.runq[:n]...)
		clear(m.runq[:n])
		m.runq = m.runq[n:]
		if len(m.runq) == 0 {
			m.runq = m.runq[:0:0]
		}
		m.mu.Unlock()
		for i, c := range batch {
			for {
				scratch = c.run(scratch[:0])
				if c.state.CompareAndSwap(subQueued, subIdle) {
					break
				}
				c.state.Store(subQueued)
			}
			batch[i] = nil
		}
		if cap(scratch) > 4*writerScratch {
			scratch = make([]byte, 0, writerScratch)
		}
	}
}

// poll is the poller: it wakes the sockets the kernel reports and sweeps
// for timers, until the server stops and the last socket is closed.
func (m *eventMux) poll() {
	defer m.s.streams.Done()
	events := make([]unix.EpollEvent, 256)
	var due []*muxSub
	lastSweep := time.Now()
	for {
		wait := muxSweep - time.Since(lastSweep)
		if t := m.soonest.Load(); t != 0 {
			wait = min(wait, time.Until(time.Unix(0, t)))
		}
		wait = max(wait, time.Millisecond)
		n, err := m.wait(events, wait)
		if err != nil {
			m.s.log.Error("events: epoll wait", "err", err)
			time.Sleep(muxSweep)
		}
		m.mu.Lock()
		for _, ev := range events[:n] {
			if ev.Fd == int32(m.wakefd) { //nolint:gosec // a descriptor fits int32
				var b [8]byte
				_, _ = unix.Read(m.wakefd, b[:])
				continue
			}
			c := m.subs[ev.Fd]
			if c == nil {
				continue
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				c.readable.Store(true)
			}
			due = append(due, c)
		}
		m.mu.Unlock()
		if now := time.Now(); now.Sub(lastSweep) >= muxSweep || m.dueBy(now) {
			lastSweep = now
			m.soonest.Store(0)
			due = m.sweep(now, due)
		}
		for i, c := range due {
			c.schedule()
			due[i] = nil
		}
		due = due[:0]
		if m.closeIfDone() {
			return
		}
	}
}

// wait returns the events epoll has, waiting at most d for the first.
// It waits in the runtime's poller, not in epoll_wait: a goroutine in a
// blocking system call has the runtime's monitor thread waking every
// 20 µs to hand its P on while the writers are busy (≈3 % of the
// server's CPU at 10 000 subscribers in a profile), and each return
// needs a P back. Here the call itself never blocks.
func (m *eventMux) wait(events []unix.EpollEvent, d time.Duration) (int, error) {
	until := time.Now().Add(d)
	m.sleepUntil.Store(until.UnixNano())
	defer m.sleepUntil.Store(0)
	if err := m.ep.SetReadDeadline(until); err != nil {
		return 0, err
	}
	var n int
	var errno syscall.Errno
	err := m.eprc.Read(func(fd uintptr) bool {
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
		n, errno = int(r), e
		if e == unix.EINTR {
			n, errno = 0, 0
			return true
		}
		return e != 0 || n > 0
	})
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, nil
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, errno
	}
	return n, nil
}

// dueBy reports whether a socket asked for a sweep by now.
func (m *eventMux) dueBy(now time.Time) bool {
	t := m.soonest.Load()
	return t != 0 && t <= now.UnixNano()
}

// wakeBy has the poller sweep by t, sooner than its regular sweep.
func (m *eventMux) wakeBy(t int64) {
	for {
		cur := m.soonest.Load()
		if cur != 0 && cur <= t {
			return
		}
		if m.soonest.CompareAndSwap(cur, t) {
			if until := m.sleepUntil.Load(); until != 0 && t < until-int64(time.Millisecond) {
				one := [8]byte{1}
				_, _ = unix.Write(m.wakefd, one[:])
			}
			return
		}
	}
}

// sweep adds the sockets with something due to list.
func (m *eventMux) sweep(now time.Time, list []*muxSub) []*muxSub {
	stopping := isClosed(m.s.stop)
	t := now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ch := range m.dues {
		for i := range ch.due {
			if d := ch.due[i].Load(); (stopping || (d != 0 && d <= t)) && ch.sub[i] != nil {
				list = append(list, ch.sub[i])
			}
		}
	}
	return list
}

// closeIfDone ends the mux once no socket is left (at shutdown, or
// when the last client went).
func (m *eventMux) closeIfDone() bool {
	slot := &m.s.evmux
	slot.mu.Lock()
	m.mu.Lock()
	if len(m.subs) > 0 || len(m.runq) > 0 || m.joining.Load() > 0 {
		m.mu.Unlock()
		slot.mu.Unlock()
		return false
	}
	m.closed = true
	m.cond.Broadcast()
	m.mu.Unlock()
	if slot.m == m {
		slot.m = nil
	}
	slot.mu.Unlock()
	m.writers.Wait()
	m.checks.Wait()
	_ = m.ep.Close()
	_ = unix.Close(m.wakefd)
	return true
}

// run does what is due for c: reads what the client sent, ends the
// stream when it must, and writes the waiting frames. out is the
// writer's buffer; run returns it, perhaps grown.
func (c *muxSub) run(out []byte) []byte {
	if c.finished {
		return out
	}
	s := c.m.s
	now := time.Now()
	if c.forced.Load() && !c.gone {
		c.fail()
	}
	if c.readable.Swap(false) {
		out = c.read(out)
	}
	if c.why == "" {
		out = c.check(now, out)
	}
	if c.why == "" {
		out = c.take(now, out)
	}
	if c.why != "" && c.closeBy.IsZero() {
		out = c.startClose(now, out)
	}
	out = c.flush(now, out)
	if c.why != "" && (c.gone || (c.peerClose && len(c.out) == 0) || !now.Before(c.closeBy)) {
		c.finish()
		return out
	}
	c.setDue(now, s)
	return out
}

// read reads what the client sent, until the socket has no more.
func (c *muxSub) read(out []byte) []byte {
	var buf [512]byte
	for !c.gone {
		n, err := c.readSys(buf[:])
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil || n == 0 {
			// The client is gone (EOF or reset), with or without its
			// close frame.
			c.fail()
			return out
		}
		c.in = append(c.in, buf[:n]...)
		out = c.frames(out)
	}
	if len(c.in) == 0 {
		c.in = nil // no buffer kept between frames
	}
	return out
}

// frames handles the whole client frames in c.in.
func (c *muxSub) frames(out []byte) []byte {
	if c.discard {
		c.in = nil
		return out
	}
	for len(c.in) > 0 && !c.gone {
		f, n, err := parseClientFrame(c.in)
		if err != nil {
			c.m.s.log.Debug("events: bad frame from the client", "user", c.st.p.user.Name, "err", err)
			c.end(monitor.CloseClientClosed)
			c.discard, c.in = true, nil
			return c.closeWith(out, uint16(websocket.StatusProtocolError), "protocol error")
		}
		if n == 0 {
			if len(c.in) > maxClientFrameHeader+maxControlPayload {
				c.fail() // cannot happen: a control frame fits
			}
			return out
		}
		switch f.opcode {
		case opPing:
			if c.closeBy.IsZero() {
				out = appendControlFrame(out, opPong, f.payload)
			}
		case opPong:
			c.pongBy = time.Time{}
		case opClose:
			c.peerClose = true
			c.end(monitor.CloseClientClosed)
			if c.closeBy.IsZero() {
				// Answer with the client's code, as RFC 6455 asks.
				code, _, _ := parseClosePayload(f.payload)
				out = c.closeWith(out, code, "")
			}
		default:
			// The stream is write-only, as the library's CloseRead has it.
			c.end(monitor.CloseClientClosed)
			c.discard, c.in = true, nil
			return c.closeWith(out, uint16(websocket.StatusPolicyViolation), "unexpected data message")
		}
		c.in = c.in[n:]
	}
	return out
}

// check ends the stream when the subscription, the server or the
// sign-in says so or the client stopped answering, and sends a ping when
// one is due.
func (c *muxSub) check(now time.Time, out []byte) []byte {
	s := c.m.s
	switch {
	case c.sub.Ended():
		c.end(c.sub.Reason())
	case isClosed(s.stop):
		c.end(monitor.CloseShutdown)
	case c.ended.Load():
		c.end(monitor.CloseAuthExpired)
	case c.expired.Load():
		s.metrics.socketsEnded.WithLabelValues(string(streamEvents), endExpired.label).Inc()
		c.end(monitor.CloseAuthExpired)
	case !c.pongBy.IsZero() && now.After(c.pongBy),
		!c.stuck.IsZero() && now.Sub(c.stuck) > s.writeTimeout:
		// A client that does not take a ping or its frames within the
		// write timeout (one that stopped reading).
		c.end(monitor.CloseSlow)
	case !now.Before(c.nextPing):
		c.nextPing = now.Add(s.pingInterval)
		if c.st.p.sessionID != "" && c.checking.CompareAndSwap(false, true) {
			c.checkSignIn()
		}
		if c.pongBy.IsZero() {
			c.pongBy = now.Add(s.writeTimeout)
			out = appendControlFrame(out, opPing, nil)
		}
	}
	return out
}

// checkSignIn asks the session store whether the stream's sign-in still
// stands (which renews it), off the writers: the store may take its time.
func (c *muxSub) checkSignIn() {
	m := c.m
	m.checks.Add(1)
	go func() {
		defer m.checks.Done()
		if !m.s.stillSignedIn(context.Background(), c.st.p) {
			c.expired.Store(true)
		}
		c.checking.Store(false)
		c.schedule()
	}()
}

// take appends the waiting changes, unless the socket is full or the
// client has fallen behind: then they wait in the hub's bounded queue,
// and a client behind for longer than slowAfter is dropped.
func (c *muxSub) take(now time.Time, out []byte) []byte {
	s := c.m.s
	if len(c.out) > 0 {
		return out
	}
	if !c.behind.IsZero() {
		if !c.keepingUp() {
			if now.Sub(c.behind) > s.slowAfter {
				c.end(monitor.CloseSlow)
			}
			return out
		}
		c.behind = time.Time{}
	}
	if w := s.eventCoalesce; w > 0 && now.Sub(c.lastData) < w {
		// Written a moment ago: what comes meanwhile goes out together.
		if c.hold.IsZero() {
			c.hold = c.lastData.Add(w)
		}
		if now.Before(c.hold) && c.sub.Waiting() < coalesceMax {
			return out
		}
	}
	c.hold = time.Time{}
	c.batch = c.sub.Take(c.batch[:0])
	if len(c.batch) > 0 {
		c.lastData = now
	}
	for _, ev := range c.batch {
		b, err := ev.JSON()
		if err != nil {
			s.log.Error("events: encode event", "err", err)
			continue
		}
		out = appendTextFrame(out, b)
	}
	clear(c.batch)
	if cap(c.batch) > keepSpareEvents {
		c.batch = nil
	}
	return out
}

// keepingUp reports whether the kernel holds no more than the backlog
// allowed for the client (or a quarter of the send buffer, so that a
// close frame still fits), asking it only when what was written since
// it last answered could have made it more.
func (c *muxSub) keepingUp() bool {
	if c.unchecked <= c.limit {
		return true
	}
	var queued, sndbuf int
	var err1, err2 error
	err := c.raw.Control(func(fd uintptr) {
		queued, err1 = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		sndbuf, err2 = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	})
	if err != nil || err1 != nil || err2 != nil {
		return true
	}
	c.unchecked = queued
	c.limit = min(c.m.s.eventBacklog, sndbuf/4)
	return queued <= c.limit
}

// end records why the stream ends; the first reason wins.
func (c *muxSub) end(why monitor.CloseReason) {
	if c.why == "" {
		c.why = why
	}
}

// startClose appends the close frame that says why the stream ends.
func (c *muxSub) startClose(now time.Time, out []byte) []byte {
	c.sub.CloseWith(c.why)
	c.closeBy = now.Add(closeGrace)
	switch c.why { // a client that went is cut without a word
	case monitor.CloseSlow:
		return c.closeWith(out, uint16(websocket.StatusPolicyViolation), closeTooSlow)
	case monitor.CloseShutdown:
		return c.closeWith(out, uint16(websocket.StatusGoingAway), closeShutdown)
	case monitor.CloseAuthExpired:
		end := endExpired
		if isClosed(c.st.ended) {
			end = c.st.why
		}
		return c.closeWith(out, uint16(end.code), end.reason) //nolint:gosec // close codes fit
	}
	return out
}

// closeWith appends the close frame, once, and starts the close grace.
// A zero code sends a close frame without a status.
func (c *muxSub) closeWith(out []byte, code uint16, reason string) []byte {
	if c.closeBy.IsZero() {
		c.closeBy = time.Now().Add(closeGrace)
	}
	if c.gone || c.closeSent {
		return out
	}
	c.closeSent = true
	if code == 0 {
		return appendControlFrame(out, opClose, nil)
	}
	return appendCloseFrame(out, code, reason)
}

// flush writes c.out and then out, as far as the socket takes them; what
// it does not take waits in c.out for room (the poller reports it).
func (c *muxSub) flush(now time.Time, out []byte) []byte {
	if c.gone {
		c.out = nil
		return out
	}
	if len(out) > 0 {
		if len(c.out) > 0 {
			c.out = append(c.out, out...)
			out = out[:0]
		}
	}
	p := out
	own := false
	if len(c.out) > 0 {
		p, own = c.out, true
	}
	for len(p) > 0 {
		n, err := c.writeSys(p)
		if n > 0 {
			p = p[n:]
			c.unchecked += n
		}
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil {
			c.fail()
			return out[:0]
		}
	}
	switch {
	case len(p) == 0:
		c.out = nil
		c.stuck = time.Time{}
		if !c.keepingUp() && c.behind.IsZero() {
			c.behind = now
		}
	case own:
		c.out = p
	default:
		c.out = append([]byte(nil), p...)
	}
	if len(p) > 0 && c.stuck.IsZero() {
		c.stuck = now
	}
	return out[:0]
}

// fail marks the connection as failed: nothing more is written to it.
func (c *muxSub) fail() {
	c.gone = true
	c.out = nil
	c.end(monitor.CloseClientClosed)
}

// writeSys sends p with send(2) rather than write(2): it goes to the
// socket without the file layer's position lock and checks (≈5 % of the
// write's cost in a profile at 10 000 subscribers), and MSG_NOSIGNAL
// spares the SIGPIPE of a client that went. It is a raw system call (no
// entersyscall): the socket is non-blocking, so the call never waits,
// and a writer doing tens of thousands of them a second otherwise keeps
// the runtime's monitor thread waking every 20 µs to hand the writer's P
// to another thread (≈12 % less CPU per delivered change at 10 000
// subscribers, README "Performance"). It writes to the descriptor
// itself, not through the connection's RawConn, whose locking and poller
// bookkeeping touched three more cold structures per write (≈6 % of the
// CPU at 10 000 subscribers): that is safe because no one else closes
// the socket while c is served (the writer running c does; a forced
// shutdown asks it to, see serve).
func (c *muxSub) writeSys(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(c.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT, 0, 0) //nolint:gosec // a descriptor
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// readSys reads what the client sent into p, as writeSys writes.
func (c *muxSub) readSys(p []byte) (int, error) {
	n, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(c.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p))) //nolint:gosec // a descriptor
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// setDue tells the sweep when c next needs a run.
func (c *muxSub) setDue(now time.Time, s *Server) {
	d := c.nextPing
	if !c.pongBy.IsZero() && c.pongBy.Before(d) {
		d = c.pongBy
	}
	if !c.stuck.IsZero() {
		if t := c.stuck.Add(s.writeTimeout); t.Before(d) {
			d = t
		}
	}
	if !c.behind.IsZero() {
		if t := now.Add(retryBehind); t.Before(d) {
			d = t
		}
	}
	if !c.closeBy.IsZero() && c.closeBy.Before(d) {
		d = c.closeBy
	}
	if !c.hold.IsZero() && c.hold.Before(d) {
		d = c.hold
	}
	c.due.Store(d.UnixNano())
	if d.Sub(now) < muxSweep {
		c.m.wakeBy(d.UnixNano())
	}
}

// finish closes the socket and ends the stream.
func (c *muxSub) finish() {
	c.finished = true
	c.due.Store(0)
	c.m.remove(c)
	_ = c.ws.CloseNow()
	c.sub.CloseWith(c.why)
	c.out, c.in, c.batch = nil, nil, nil
	c.m.s.endStream(c.st)
	c.m.s.log.Debug("events stream ended", "user", c.st.p.user.Name, "reason", c.why)
}
