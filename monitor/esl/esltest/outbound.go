package esltest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// DialOutbound connects to an outbound-mode listener at addr the way the
// dialplan's `socket` application does: it waits for "connect", replies
// with the channel data, answers every further command with +OK, and once
// the peer asked for its events (myevents) and ready says the commands so
// far are all it waits for (nil: none more), sends events in JSON. With
// linger asked for, the hangup is announced by a text/disconnect-notice
// with Content-Disposition: linger before the last events, as FreeSWITCH
// does. It then closes the socket and returns the commands it received.
func DialOutbound(ctx context.Context, addr string, data Event, events []Event, ready func(cmds []string) bool) ([]string, error) {
	c, err := DialOutboundCall(ctx, addr, data)
	if err != nil {
		return nil, err
	}
	defer func() {
		c.stop()
		c.nc.Close()
	}()
	if err := c.Wait(ctx, ready); err != nil {
		return c.Commands(), err
	}
	if err := c.Send(events...); err != nil {
		return c.Commands(), err
	}
	// Give the peer the moment a lingering socket gets to read the last
	// events before FreeSWITCH closes it.
	c.nc.(*net.TCPConn).CloseWrite()
	c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	<-c.done
	return c.Commands(), nil
}

// OutboundCall is one call's outbound socket, held open until Close:
// it answers the listener's commands (api ones with an api/response,
// "+OK" unless SetAPI says otherwise) and sends the events it is given.
type OutboundCall struct {
	nc   net.Conn
	data Event
	done chan struct{}
	stop func() bool

	wmu sync.Mutex // one message at a time on the wire

	mu         sync.Mutex // guards the fields below
	cmds       []string
	changed    chan struct{} // closed and replaced on each command
	subscribed bool
	linger     bool
	api        func(cmd, args string) string
}

// DialOutboundCall connects to the listener at addr as the `socket`
// application does and answers its commands until Close or until the
// listener closes the socket; ctx bounds the connection.
func DialOutboundCall(ctx context.Context, addr string, data Event) (*OutboundCall, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &OutboundCall{nc: nc, data: data, done: make(chan struct{}), changed: make(chan struct{})}
	c.stop = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	go func() {
		defer close(c.done)
		br := bufio.NewReader(nc)
		for c.read(br) == nil {
		}
	}()
	return c, nil
}

// SetAPI answers api commands; returning "" answers "+OK".
func (c *OutboundCall) SetAPI(fn func(cmd, args string) string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.api = fn
}

// read answers one command.
func (c *OutboundCall) read(br *bufio.Reader) error {
	cmd, err := readCommand(br)
	if err != nil {
		return fmt.Errorf("esltest outbound: %w", err)
	}
	verb, args, _ := strings.Cut(cmd, " ")
	c.mu.Lock()
	c.cmds = append(c.cmds, cmd)
	api := c.api
	switch verb {
	case "myevents":
		c.subscribed = strings.HasPrefix(args, "json") || args == ""
	case "linger":
		c.linger = true
	}
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	switch verb {
	case "connect":
		keys := make([]string, 0, len(c.data))
		for k := range c.data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("Content-Type: command/reply\nReply-Text: +OK\nSocket-Mode: async\nControl: full\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "%s: %s\n", k, url.PathEscape(c.data[k]))
		}
		b.WriteString("\n")
		return c.write(b.String())
	case "myevents":
		return c.write("Content-Type: command/reply\nReply-Text: +OK Events Enabled\n\n")
	case "linger":
		return c.write("Content-Type: command/reply\nReply-Text: +OK will linger\n\n")
	case "api":
		name, rest, _ := strings.Cut(args, " ")
		out := ""
		if api != nil {
			out = api(name, rest)
		}
		if out == "" {
			out = "+OK\n"
		}
		return c.write(fmt.Sprintf("Content-Type: api/response\nContent-Length: %d\n\n%s", len(out), out))
	}
	return c.write("Content-Type: command/reply\nReply-Text: +OK\n\n")
}

func (c *OutboundCall) write(msg string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := io.WriteString(c.nc, msg)
	return err
}

// Commands returns the commands received so far.
func (c *OutboundCall) Commands() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.cmds...)
}

// Wait waits until the listener asked for its events and ready (nil:
// nothing more) holds for the commands so far.
func (c *OutboundCall) Wait(ctx context.Context, ready func(cmds []string) bool) error {
	for {
		c.mu.Lock()
		ok := c.subscribed && (ready == nil || ready(c.cmds))
		changed := c.changed
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-c.done:
			return fmt.Errorf("esltest outbound: the socket closed; commands %q", c.Commands())
		case <-ctx.Done():
			return fmt.Errorf("esltest outbound: commands %q: %w", c.Commands(), ctx.Err())
		}
	}
}

// WaitCommand waits for a command starting with prefix and returns it.
func (c *OutboundCall) WaitCommand(ctx context.Context, prefix string) (string, error) {
	var found string
	err := c.Wait(ctx, func(cmds []string) bool {
		for _, cmd := range cmds {
			if strings.HasPrefix(cmd, prefix) {
				found = cmd
				return true
			}
		}
		return false
	})
	return found, err
}

// Send sends events in JSON; a CHANNEL_HANGUP_COMPLETE on a lingering
// socket is preceded by the disconnect notice FreeSWITCH sends then.
func (c *OutboundCall) Send(events ...Event) error {
	for _, e := range events {
		c.mu.Lock()
		linger := c.linger
		c.mu.Unlock()
		if linger && e["Event-Name"] == "CHANNEL_HANGUP_COMPLETE" {
			notice := "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
			_ = c.write(fmt.Sprintf("Content-Type: text/disconnect-notice\nController-Type: outbound\nContent-Disposition: linger\nChannel-UUID: %s\nContent-Length: %d\n\n%s",
				c.data["Unique-ID"], len(notice), notice))
		}
		b, _ := json.Marshal(e)
		if err := c.write(fmt.Sprintf("Content-Length: %d\nContent-Type: text/event-json\n\n%s", len(b), b)); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the socket, as FreeSWITCH does at the call's end, and
// waits until the answering goroutine is done.
func (c *OutboundCall) Close() error {
	c.stop()
	err := c.nc.Close()
	<-c.done
	return err
}
