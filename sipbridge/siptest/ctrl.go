package siptest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// Event is one event baresip pushes over ctrl_tcp, e.g.
// {"event":true,"type":"CALL_ESTABLISHED","class":"call",
// "accountaor":"sip:1001@127.0.0.1:5070","direction":"outgoing",
// "peeruri":"sip:1002@127.0.0.1:5070","id":"eceb8e9e135652b1","param":"..."}.
type Event struct {
	Type       string    `json:"type"`       // REGISTER_OK, CALL_INCOMING, CALL_RINGING, CALL_ESTABLISHED, CALL_CLOSED, ...
	Class      string    `json:"class"`      // "call", "register", "application", ...
	AccountAOR string    `json:"accountaor"` // the phone's own AOR
	Direction  string    `json:"direction"`  // "incoming" or "outgoing" for call events
	PeerURI    string    `json:"peeruri"`    // the far end
	ID         string    `json:"id"`         // baresip's call id
	Param      string    `json:"param"`      // e.g. the close reason of CALL_CLOSED
	Raw        string    `json:"-"`          // the event as received
	At         time.Time `json:"-"`          // when it arrived
}

// ctrlMessage is any message on the control socket: a response or an event.
type ctrlMessage struct {
	Event    bool   `json:"event"`
	Response bool   `json:"response"`
	OK       bool   `json:"ok"`
	Data     string `json:"data"`
	Token    string `json:"token"`
}

// ctrlResponse is baresip's answer to one command.
type ctrlResponse struct {
	OK   bool
	Data string
}

// ctrlClient speaks baresip's ctrl_tcp protocol: netstring-framed JSON
// commands {"command","params","token"} and responses plus pushed events.
// One reader goroutine, owned by the client, runs until close.
type ctrlClient struct {
	conn net.Conn
	wmu  sync.Mutex // serialises writes

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever events/pending change
	events  []Event
	used    []bool // per event: already returned by waitEvent
	pending map[string]chan ctrlResponse
	nextTok int
	readErr error
	done    chan struct{}
}

// dialCtrl connects to baresip's control socket, retrying until ctx ends
// or the process exits: baresip opens it a moment after starting.
func dialCtrl(ctx context.Context, addr string, p *process) (*ctrlClient, error) {
	var d net.Dialer
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := d.DialContext(dctx, "tcp4", addr)
		cancel()
		if err == nil {
			return newCtrlClient(conn), nil
		}
		if p != nil && p.exited() {
			return nil, fmt.Errorf("%w before opening ctrl_tcp %s: %w", ErrExited, addr, p.err)
		}
		// Pace the retries on the process or the context, never a bare sleep.
		t := time.NewTimer(25 * time.Millisecond)
		var exited <-chan struct{}
		if p != nil {
			exited = p.done
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: ctrl_tcp %s: %w (last: %w)", ErrNotReady, addr, ctx.Err(), err)
		case <-exited:
			t.Stop()
		case <-t.C:
		}
	}
}

func newCtrlClient(conn net.Conn) *ctrlClient {
	c := &ctrlClient{
		conn:    conn,
		changed: make(chan struct{}),
		pending: make(map[string]chan ctrlResponse),
		done:    make(chan struct{}),
	}
	go c.readLoop()
	return c
}

func (c *ctrlClient) readLoop() {
	defer close(c.done)
	r := bufio.NewReader(c.conn)
	for {
		b, err := readNetstring(r)
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.notifyLocked()
			c.mu.Unlock()
			return
		}
		c.dispatch(b)
	}
}

// dispatch files one message; malformed JSON is kept as an event of type
// "" so that nothing is silently lost.
func (c *ctrlClient) dispatch(b []byte) {
	var m ctrlMessage
	if err := json.Unmarshal(b, &m); err != nil {
		m.Event = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.Response {
		if ch, ok := c.pending[m.Token]; ok {
			delete(c.pending, m.Token)
			ch <- ctrlResponse{OK: m.OK, Data: m.Data}
		}
		return
	}
	var ev Event
	_ = json.Unmarshal(b, &ev)
	ev.Raw = string(b)
	ev.At = time.Now()
	c.events = append(c.events, ev)
	c.used = append(c.used, false)
	c.notifyLocked()
}

// notifyLocked wakes every waiter; c.mu held on entry.
func (c *ctrlClient) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// command sends one command and waits for its response.
func (c *ctrlClient) command(ctx context.Context, cmd, params string) (ctrlResponse, error) {
	c.mu.Lock()
	if c.readErr != nil {
		err := c.readErr
		c.mu.Unlock()
		return ctrlResponse{}, fmt.Errorf("baresip %s: control connection: %w", cmd, err)
	}
	c.nextTok++
	tok := "siptest" + strconv.Itoa(c.nextTok)
	ch := make(chan ctrlResponse, 1)
	c.pending[tok] = ch
	c.mu.Unlock()

	payload, err := json.Marshal(struct {
		Command string `json:"command"`
		Params  string `json:"params,omitempty"`
		Token   string `json:"token"`
	}{cmd, params, tok})
	if err != nil {
		return ctrlResponse{}, fmt.Errorf("baresip %s: %w", cmd, err)
	}
	c.wmu.Lock()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.conn.SetWriteDeadline(dl)
	}
	_, err = c.conn.Write(appendNetstring(nil, payload))
	c.wmu.Unlock()
	if err != nil {
		c.forget(tok)
		return ctrlResponse{}, fmt.Errorf("baresip %s: %w", cmd, err)
	}
	select {
	case r := <-ch:
		if !r.OK {
			return r, fmt.Errorf("baresip %s %s: %w: %s", cmd, params, ErrCommandFailed, r.Data)
		}
		return r, nil
	case <-c.done:
		c.forget(tok)
		return ctrlResponse{}, fmt.Errorf("baresip %s: control connection closed", cmd)
	case <-ctx.Done():
		c.forget(tok)
		return ctrlResponse{}, fmt.Errorf("baresip %s: %w", cmd, ctx.Err())
	}
}

func (c *ctrlClient) forget(tok string) {
	c.mu.Lock()
	delete(c.pending, tok)
	c.mu.Unlock()
}

// waitEvent returns the oldest event not yet returned for which match is
// true, waiting for it until ctx ends or the connection closes.
func (c *ctrlClient) waitEvent(ctx context.Context, match func(Event) bool) (Event, error) {
	for {
		c.mu.Lock()
		for i, ev := range c.events {
			if !c.used[i] && match(ev) {
				c.used[i] = true
				c.mu.Unlock()
				return ev, nil
			}
		}
		changed, readErr := c.changed, c.readErr
		c.mu.Unlock()
		if readErr != nil {
			return Event{}, fmt.Errorf("control connection: %w", readErr)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// snapshot returns every event received so far.
func (c *ctrlClient) snapshot() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// close ends the connection and waits for the reader goroutine.
func (c *ctrlClient) close() {
	_ = c.conn.Close()
	<-c.done
}

// consume marks every received event for which match is true as returned,
// so later waits only see new ones.
func (c *ctrlClient) consume(match func(Event) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, ev := range c.events {
		if match(ev) {
			c.used[i] = true
		}
	}
}
