package esl

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"

	"github.com/switchboard/switchboard/monitor"
)

// Conn is one event socket connection, inbound (we dialled FreeSWITCH) or
// outbound (FreeSWITCH's socket application dialled us). FreeSWITCH
// answers commands strictly in order, interleaved with events, so one
// command is in flight at a time and its reply is the next reply message.
type Conn struct {
	nc      net.Conn
	r       *Reader
	onEvent func(Event)
	bad     *monitor.ParseErrorLog

	cmdMu   sync.Mutex // one command in flight
	replies chan *eslgo.RawResponse

	jobsMu sync.Mutex
	jobs   map[string]chan Event

	done    chan struct{}
	errOnce sync.Once
	err     error
}

// Auth performs the inbound handshake on nc: it waits for auth/request,
// sends the password, and starts the reader, which passes every event to
// onEvent (from one goroutine, in order; onEvent must not block for long).
// A rude-rejection is ErrRejected, a refused password ErrAuth. An event
// the reader cannot take is skipped, counted and logged (WithCounters,
// WithLogger).
func Auth(ctx context.Context, nc net.Conn, password string, onEvent func(Event), opts ...Option) (*Conn, error) {
	c := newConn(nc, onEvent, opts)
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	msg, err := c.read()
	if err != nil {
		return nil, fmt.Errorf("esl greeting: %w", deadlineErr(ctx, err))
	}
	switch ct := msg.Headers.Get("Content-Type"); ct {
	case TypeAuthRequest:
	case TypeRudeRejection:
		return nil, fmt.Errorf("%w (%s)", ErrRejected, strings.TrimSpace(string(msg.Body)))
	case TypeDisconnect:
		return nil, fmt.Errorf("esl greeting: %w: %s", ErrClosed, strings.TrimSpace(string(msg.Body)))
	default:
		return nil, fmt.Errorf("esl greeting: unexpected %q", ct)
	}
	if err := c.write(command.Auth{Password: password}); err != nil {
		return nil, fmt.Errorf("esl auth: %w", deadlineErr(ctx, err))
	}
	for {
		msg, err = c.read()
		if err != nil {
			return nil, fmt.Errorf("esl auth: %w", deadlineErr(ctx, err))
		}
		if msg.Headers.Get("Content-Type") == TypeReply {
			break
		}
	}
	if !msg.IsOk() {
		return nil, fmt.Errorf("%w (%s)", ErrAuth, msg.GetReply())
	}
	nc.SetDeadline(time.Time{})
	go c.readLoop()
	return c, nil
}

// Connect performs the outbound handshake on a connection FreeSWITCH's
// socket application opened: it sends "connect" and returns the channel
// data FreeSWITCH replies with.
func Connect(ctx context.Context, nc net.Conn, onEvent func(Event), opts ...Option) (*Conn, Event, error) {
	c := newConn(nc, onEvent, opts)
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := c.write(command.Connect{}); err != nil {
		return nil, nil, fmt.Errorf("esl connect: %w", deadlineErr(ctx, err))
	}
	for {
		msg, err := c.read()
		if err != nil {
			return nil, nil, fmt.Errorf("esl connect: %w", deadlineErr(ctx, err))
		}
		if msg.Headers.Get("Content-Type") != TypeReply {
			continue
		}
		data := headerEvent(msg.Headers)
		if data[hUniqueID] == "" {
			return nil, nil, fmt.Errorf("esl connect: channel data without Unique-ID")
		}
		nc.SetDeadline(time.Time{})
		go c.readLoop()
		return c, data, nil
	}
}

func newConn(nc net.Conn, onEvent func(Event), opts []Option) *Conn {
	if onEvent == nil {
		onEvent = func(Event) {}
	}
	o := monitor.NewSourceOptions(opts...)
	return &Conn{nc: nc, r: NewReader(nc), onEvent: onEvent, bad: monitor.NewParseErrorLog(o.Counters, o.Log),
		replies: make(chan *eslgo.RawResponse, 1), jobs: map[string]chan Event{}, done: make(chan struct{})}
}

// read returns the next message the reader could take whole. An event it
// skipped is counted and passed over: events carry no order the
// connection depends on. A skipped reply, or a message whose type is
// unknown, ends the link: the command in flight would wait for a reply
// that never comes and every later reply be paired with the wrong
// command (FreeSWITCH answers in order, without ids).
func (c *Conn) read() (*eslgo.RawResponse, error) {
	for {
		msg, err := c.r.Read()
		if err == nil || msg == nil {
			return msg, err
		}
		switch msg.Headers.Get("Content-Type") {
		case TypeEventJSON, TypeEventPlain:
			c.bad.Note(err)
			continue
		}
		return nil, fmt.Errorf("esl: unreadable %q message, replies would lose their order: %w", msg.Headers.Get("Content-Type"), err)
	}
}

func deadlineErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (c *Conn) write(cmd command.Command) error {
	_, err := c.nc.Write([]byte(cmd.BuildMessage() + eslgo.EndOfMessage))
	return err
}

// readLoop routes replies to the waiting command and events to onEvent
// until the connection fails.
func (c *Conn) readLoop() {
	for {
		msg, err := c.read()
		if err != nil {
			c.fail(err)
			return
		}
		switch ct := msg.Headers.Get("Content-Type"); ct {
		case TypeReply, TypeAPIResponse:
			select {
			case c.replies <- msg:
			default:
				// Nobody asked: a late reply to a command that timed out.
			}
		case TypeEventJSON, TypeEventPlain:
			e, err := ParseEvent(msg)
			if err != nil {
				c.bad.Note(err)
				continue
			}
			c.deliverJob(e)
			c.onEvent(e)
		case TypeDisconnect:
			if msg.Headers.Get("Content-Disposition") == "linger" {
				// The call hung up; with linger FreeSWITCH still sends its
				// last events, then closes the socket.
				continue
			}
			// FreeSWITCH is closing the socket (shutdown, or the outbound
			// call is over).
			c.fail(fmt.Errorf("%w: %s", ErrClosed, firstLine(msg.Body)))
			return
		case TypeRudeRejection:
			c.fail(fmt.Errorf("%w (%s)", ErrRejected, firstLine(msg.Body)))
			return
		case TypeAuthRequest:
			// Only at the start; a repeat means the peer restarted the
			// handshake, which this connection cannot follow.
			c.fail(fmt.Errorf("esl: unexpected auth/request"))
			return
		}
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

func (c *Conn) fail(err error) {
	c.errOnce.Do(func() {
		c.err = err
		close(c.done)
		c.nc.Close()
	})
}

// Done is closed when the connection has ended; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended, nil while it is up.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close ends the connection (without "exit": FreeSWITCH notices the
// closed socket at once).
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	return nil
}

// Send writes cmd and returns its reply (command/reply or api/response).
// On a connection already closed it returns monitor.ErrNotConnected; on
// one that closes before the reply came, monitor.ErrActionLost.
func (c *Conn) Send(ctx context.Context, cmd command.Command) (*eslgo.RawResponse, error) {
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	select {
	case <-c.done:
		return nil, fmt.Errorf("%w: %w", monitor.ErrNotConnected, c.err)
	default:
	}
	if d, ok := ctx.Deadline(); ok {
		c.nc.SetWriteDeadline(d)
		defer c.nc.SetWriteDeadline(time.Time{})
	}
	if err := c.write(cmd); err != nil {
		c.fail(err)
		return nil, fmt.Errorf("%w: %w", monitor.ErrActionLost, err)
	}
	select {
	case msg := <-c.replies:
		return msg, nil
	case <-c.done:
		return nil, fmt.Errorf("%w: %w", monitor.ErrActionLost, c.err)
	case <-ctx.Done():
		// The reply may still come; the stream stays in order only if we
		// drop the link rather than match it to the next command.
		c.fail(fmt.Errorf("esl: no reply to %q: %w", verb(cmd), ctx.Err()))
		return nil, ctx.Err()
	}
}

// Command sends cmd and turns a -ERR reply into ErrCommandFailed and
// monitor.ErrRefused, with FreeSWITCH's words.
func (c *Conn) Command(ctx context.Context, cmd command.Command) (*eslgo.RawResponse, error) {
	msg, err := c.Send(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("esl %s: %w", verb(cmd), err)
	}
	if r := strings.TrimSpace(msg.GetReply()); strings.HasPrefix(r, "-ERR") {
		return msg, fmt.Errorf("esl %s: %w: %w: %s", verb(cmd), ErrCommandFailed, monitor.ErrRefused, strings.TrimSpace(strings.TrimPrefix(r, "-ERR")))
	}
	return msg, nil
}

// API runs an api command and returns its output.
func (c *Conn) API(ctx context.Context, cmd, args string) (string, error) {
	msg, err := c.Command(ctx, command.API{Command: cmd, Arguments: args})
	if err != nil {
		return "", err
	}
	return string(msg.Body), nil
}

// BGAPI runs cmd in the background and waits for its result, the
// BACKGROUND_JOB event carrying the job's Job-UUID.
func (c *Conn) BGAPI(ctx context.Context, cmd, args string) (string, error) {
	job, err := c.StartJob(ctx, cmd, args)
	if err != nil {
		return "", err
	}
	return job.Wait(ctx)
}

// Job is a bgapi command in progress.
type Job struct {
	c      *Conn
	id     string
	cmd    string
	result chan Event
}

// StartJob sends "bgapi cmd args" with a Job-UUID of our choosing (so the
// BACKGROUND_JOB event cannot overtake the registration of its waiter)
// and returns once FreeSWITCH has accepted the job.
func (c *Conn) StartJob(ctx context.Context, cmd, args string) (*Job, error) {
	j := &Job{c: c, id: uuid.NewString(), cmd: cmd, result: make(chan Event, 1)}
	c.jobsMu.Lock()
	c.jobs[j.id] = j.result
	c.jobsMu.Unlock()
	if _, err := c.Command(ctx, bgapi{cmd: cmd, args: args, job: j.id}); err != nil {
		j.forget()
		return nil, err
	}
	return j, nil
}

// ID is the job's Job-UUID.
func (j *Job) ID() string { return j.id }

func (j *Job) forget() {
	j.c.jobsMu.Lock()
	delete(j.c.jobs, j.id)
	j.c.jobsMu.Unlock()
}

// Wait returns the job's output once its BACKGROUND_JOB event arrives; an
// output of -ERR is ErrCommandFailed and monitor.ErrRefused. A connection
// that closes first gives monitor.ErrActionLost. If ctx ends first the
// job goes on and Wait may be called again.
func (j *Job) Wait(ctx context.Context) (string, error) {
	select {
	case e := <-j.result:
		j.forget()
		out := strings.TrimSpace(e[hBody])
		if strings.HasPrefix(out, "-ERR") || strings.HasPrefix(out, "-USAGE") {
			return out, fmt.Errorf("esl bgapi %s: %w: %w: %s", j.cmd, ErrCommandFailed, monitor.ErrRefused, strings.TrimSpace(strings.TrimPrefix(out, "-ERR")))
		}
		return out, nil
	case <-j.c.done:
		j.forget()
		return "", fmt.Errorf("esl bgapi %s: %w: %w", j.cmd, monitor.ErrActionLost, j.c.err)
	case <-ctx.Done():
		return "", fmt.Errorf("esl bgapi %s: %w", j.cmd, ctx.Err())
	}
}

func (c *Conn) deliverJob(e Event) {
	if e[hEventName] != "BACKGROUND_JOB" {
		return
	}
	c.jobsMu.Lock()
	ch := c.jobs[e[hJobUUID]]
	c.jobsMu.Unlock()
	if ch != nil {
		select {
		case ch <- e:
		default:
		}
	}
}

// bgapi is eslgo's command.API with the Job-UUID header FreeSWITCH
// accepts on bgapi commands.
type bgapi struct{ cmd, args, job string }

func (b bgapi) BuildMessage() string {
	return command.API{Command: b.cmd, Arguments: b.args, Background: true}.BuildMessage() + "\nJob-UUID: " + b.job
}

func verb(cmd command.Command) string {
	if _, ok := cmd.(command.Auth); ok {
		return "auth" // never the password
	}
	v, _, _ := strings.Cut(cmd.BuildMessage(), " ")
	v, _, _ = strings.Cut(v, "\n")
	return v
}
