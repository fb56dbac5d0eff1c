package ami

import (
	"context"
	"crypto/md5" //nolint:gosec // the AMI challenge login is MD5 by protocol
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// Conn is one logged-in manager connection: it sends actions, matches
// their responses by ActionID and hands every event to a callback. It
// does not reconnect; the source's loop does.
type Conn struct {
	nc      net.Conn
	r       *Reader
	version string
	bad     *monitor.ParseErrorLog

	wmu sync.Mutex // serialises writes
	seq atomic.Uint64

	mu      sync.Mutex
	pending map[string]*pendingAction
	err     error // set once the read loop ends
	done    chan struct{}
}

type pendingAction struct {
	id     string
	resp   Message
	events []Message // list responses (EventList: start … Complete)
	list   bool
	// stream: a list whose events go to the event callback in wire
	// order instead of into events (StreamAction).
	stream bool
	ch     chan struct{}
}

// Login says how to authenticate.
type Login struct {
	Username, Secret string
	// MD5 uses the Challenge action (RFC-less, Asterisk manager.c):
	// the key sent is md5(challenge + secret), so the secret never
	// crosses the wire.
	MD5 bool
	// Events is the event mask sent with the login ("on", "call,agent");
	// default "on".
	Events string
}

// Handshake reads the banner of nc, logs in and starts reading. Every
// event is passed to onEvent from the read goroutine, in order; onEvent
// must not block for long. A malformed or over-large message is skipped,
// counted and logged (WithCounters, WithLogger): the reader stays in step
// and the link up. The connection ends when nc fails or Close is called;
// Done is closed then and Err says why.
func Handshake(ctx context.Context, nc net.Conn, login Login, onEvent func(Message), opts ...Option) (*Conn, error) {
	o := monitor.NewSourceOptions(opts...)
	c := &Conn{nc: nc, r: NewReader(nc), bad: monitor.NewParseErrorLog(o.Counters, o.Log),
		pending: map[string]*pendingAction{}, done: make(chan struct{})}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetReadDeadline(dl)
	}
	// A read blocked on the banner ends when ctx does, not only at its
	// deadline.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetReadDeadline(time.Unix(1, 0)) })
	v, err := c.r.ReadBanner()
	if !stop() {
		return nil, fmt.Errorf("ami banner: %w", ctx.Err())
	}
	if err != nil {
		return nil, err
	}
	c.version = v
	_ = nc.SetReadDeadline(time.Time{})
	go c.readLoop(onEvent)
	if err := c.login(ctx, login); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Version is the manager protocol version from the banner.
func (c *Conn) Version() string { return c.version }

func (c *Conn) login(ctx context.Context, l Login) error {
	events := l.Events
	if events == "" {
		events = "on"
	}
	act := Message{{"Action", "Login"}, {"Username", l.Username}}
	if l.MD5 {
		resp, err := c.Action(ctx, Message{{"Action", "Challenge"}, {"AuthType", "MD5"}})
		if err != nil {
			return fmt.Errorf("ami challenge: %w", err)
		}
		sum := md5.Sum([]byte(resp.Get("Challenge") + l.Secret)) //nolint:gosec // the AMI challenge login is MD5 by protocol
		act = append(act, Field{"AuthType", "MD5"}, Field{"Key", hex.EncodeToString(sum[:])})
	} else {
		act = append(act, Field{"Secret", l.Secret})
	}
	act = append(act, Field{"Events", events})
	if _, err := c.Action(ctx, act); err != nil {
		if errors.Is(err, ErrActionFailed) {
			return fmt.Errorf("%w: %w", ErrAuth, err)
		}
		return fmt.Errorf("ami login: %w", err)
	}
	return nil
}

// Action sends act (without ActionID; one is added) and waits for its
// response. An "Error" response is returned as ErrActionFailed and
// monitor.ErrRefused carrying the manager's message; a connection that
// ends before the response came gives monitor.ErrActionLost, one closed
// before the action was sent monitor.ErrNotConnected.
func (c *Conn) Action(ctx context.Context, act Message) (Message, error) {
	p, err := c.send(act, false, false)
	if err != nil {
		return nil, err
	}
	return c.await(ctx, act, p)
}

// ListAction sends an action whose answer is a list of events ended by an
// event whose name ends in "Complete" (CoreShowChannels, QueueStatus) and
// returns those events.
func (c *Conn) ListAction(ctx context.Context, act Message) ([]Message, error) {
	p, err := c.send(act, true, false)
	if err != nil {
		return nil, err
	}
	if _, err := c.await(ctx, act, p); err != nil {
		return nil, err
	}
	return p.events, nil
}

// StreamAction sends a list action (ExtensionStateList, QueueStatus)
// whose events, up to and including the one whose name ends in
// "Complete", go to the connection's event callback in wire order among
// all the other events, so whoever applies them sees a listing exactly
// where it happened. It returns once the completing event was handed on.
func (c *Conn) StreamAction(ctx context.Context, act Message) error {
	p, err := c.send(act, true, true)
	if err != nil {
		return err
	}
	_, err = c.await(ctx, act, p)
	return err
}

func (c *Conn) send(act Message, list, stream bool) (*pendingAction, error) {
	id := strconv.FormatUint(c.seq.Add(1), 10)
	p := &pendingAction{id: id, list: list, stream: stream, ch: make(chan struct{})}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("ami %s: %w: %w", act.Get("Action"), monitor.ErrNotConnected, c.err)
	}
	c.pending[id] = p
	c.mu.Unlock()
	b, err := AppendMessage(nil, append(act[:len(act):len(act)], Field{"ActionID", id}))
	if err == nil {
		c.wmu.Lock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err = c.nc.Write(b)
		c.wmu.Unlock()
	}
	if err != nil {
		c.forget(id)
		return nil, fmt.Errorf("ami send %s: %w", act.Get("Action"), err)
	}
	return p, nil
}

func (c *Conn) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

func (c *Conn) await(ctx context.Context, act Message, p *pendingAction) (Message, error) {
	id := p.id
	select {
	case <-p.ch:
	case <-ctx.Done():
		c.forget(id)
		return nil, fmt.Errorf("ami %s: %w", act.Get("Action"), ctx.Err())
	case <-c.done:
		// The answer may have come just before the peer hung up (a refused
		// login): it wins over the closed connection.
		select {
		case <-p.ch:
		default:
			return nil, fmt.Errorf("ami %s: %w: %w", act.Get("Action"), monitor.ErrActionLost, c.Err())
		}
	}
	if strings.EqualFold(p.resp.Get("Response"), "Error") {
		return p.resp, fmt.Errorf("%w: %s: %w: %s", ErrActionFailed, act.Get("Action"), monitor.ErrRefused, p.resp.Get("Message"))
	}
	return p.resp, nil
}

func (c *Conn) readLoop(onEvent func(Message)) {
	var err error
	for {
		var m Message
		m, err = c.r.ReadMessage()
		if errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) {
			// The reader has consumed the message up to its empty line and
			// stays in step: one bad message is not a dead link. Were it
			// the response to an action, its ActionID is lost with it and
			// that action times out; every other pairing holds, since
			// responses are matched by ActionID, not by order.
			c.bad.Note(err)
			continue
		}
		if err != nil {
			break
		}
		c.dispatch(m, onEvent)
	}
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("%w: peer closed the connection", ErrClosed)
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	close(c.done)
}

// dispatch routes a message to its waiting action or to onEvent.
func (c *Conn) dispatch(m Message, onEvent func(Message)) {
	id, hasID := m.Lookup("ActionID")
	c.mu.Lock()
	p := c.pending[id]
	c.mu.Unlock()
	if !hasID || p == nil {
		if m.Event() != "" && onEvent != nil {
			onEvent(m)
		}
		return
	}
	if _, isResp := m.Lookup("Response"); isResp {
		p.resp = m
		if !p.list || !strings.EqualFold(m.Get("Response"), "Success") {
			c.forget(id)
			close(p.ch)
		}
		return
	}
	// A list action's events carry its ActionID up to "…Complete".
	if p.stream && onEvent != nil && m.Event() != "" {
		onEvent(m)
	}
	if strings.HasSuffix(m.Event(), "Complete") {
		c.forget(id)
		close(p.ch)
		return
	}
	if !p.stream {
		p.events = append(p.events, m)
	}
}

// Ping sends the Ping action: the health check of a silent link.
func (c *Conn) Ping(ctx context.Context) error {
	_, err := c.Action(ctx, Message{{"Action", "Ping"}})
	return err
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err says why the connection ended; nil while it is up.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection and waits for its read loop. Idempotent.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.err == nil {
		c.err = ErrClosed
	}
	c.mu.Unlock()
	err := c.nc.Close()
	<-c.done
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
