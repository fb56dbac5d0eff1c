// Package esltest is a FreeSWITCH event socket for tests: it speaks
// mod_event_socket's wire protocol (auth/request, command/reply,
// api/response, text/event-json and text/event-plain with Content-Length,
// text/disconnect-notice, text/rude-rejection) on 127.0.0.1, replays
// event streams to subscribed connections, and dials outbound-mode
// listeners the way the dialplan's socket application does. The
// connection plumbing (dropping connections, stopping and restarting on
// the same port) is monitortest.Server's.
package esltest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor/monitortest"
)

// Event is one event as FreeSWITCH's JSON format carries it.
type Event map[string]string

// Server is a fake mod_event_socket. The zero configuration accepts the
// password "ClueCon", answers `show channels as json` with no channels and
// every other api command with "+OK". Besides its own methods it has
// monitortest.Server's: Addr, CloseConns (a crash: connections dropped
// without a word), Stop, Restart, Close and Wait.
type Server struct {
	*monitortest.Server

	mu       sync.Mutex
	password string
	reject   bool
	plain    bool
	channels string
	api      func(cmd, args string) string
	jobs     func(cmd, args string) string
	conns    map[*conn]bool
	commands []string
}

type conn struct {
	nc     net.Conn
	wmu    sync.Mutex
	authed bool
	format string // "json" or "plain", once subscribed
	silent bool
}

// New starts a server on 127.0.0.1 and stops it in t.Cleanup.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{password: "ClueCon", channels: `{"row_count":0}`, conns: map[*conn]bool{}}
	s.Server = monitortest.NewServer(t, nil)
	s.Serve(s.serve)
	return s
}

// SetPassword changes the password connections must give.
func (s *Server) SetPassword(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.password = p
}

// SetReject makes the server turn new connections away as an ACL does.
func (s *Server) SetReject(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject = on
}

// SetPlain sends events as text/event-plain whatever format was asked
// for, as a switch whose clients use plain events would.
func (s *Server) SetPlain(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plain = on
}

// SetChannels sets the output of `show channels as json`.
func (s *Server) SetChannels(out string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels = out
}

// SetAPI answers api commands; returning "" falls back to the default.
func (s *Server) SetAPI(fn func(cmd, args string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.api = fn
}

// SetJobs computes the result body of bgapi jobs (default "+OK <uuid>").
func (s *Server) SetJobs(fn func(cmd, args string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs = fn
}

// Silent stops the server sending anything to current connections (not
// even replies), as a hung switch would.
func (s *Server) Silent() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.silent = true
	}
}

// Commands returns every command received so far, in order ("auth ..."
// included).
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// WaitCommand waits until a command starting with prefix has been
// received and returns it.
func (s *Server) WaitCommand(ctx context.Context, prefix string) (string, error) {
	var got string
	err := s.Wait(ctx, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.commands {
			if strings.HasPrefix(c, prefix) {
				got = c
				return true
			}
		}
		return false
	})
	if err != nil {
		return "", fmt.Errorf("esltest: no %q command: %w", prefix, err)
	}
	return got, nil
}

// WaitSubscribed waits until n connections have subscribed to events.
func (s *Server) WaitSubscribed(ctx context.Context, n int) error {
	got := 0
	err := s.Wait(ctx, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		got = 0
		for c := range s.conns {
			if c.format != "" {
				got++
			}
		}
		return got >= n
	})
	if err != nil {
		return fmt.Errorf("esltest: %d of %d connections subscribed: %w", got, n, err)
	}
	return nil
}

// Disconnect says goodbye with text/disconnect-notice, as FreeSWITCH does
// on shutdown, and closes every connection.
func (s *Server) Disconnect() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.send("Content-Type: text/disconnect-notice\n", "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")
		c.nc.Close()
	}
}

// Push sends events to every subscribed connection, each in the format it
// asked for.
func (s *Server) Push(events ...Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		for c := range s.conns {
			if c.format != "" && !c.silent {
				c.sendEvent(e, s.plain)
			}
		}
	}
}

// PushRaw writes b as it is to every subscribed connection (a broken or
// hostile switch's bytes).
func (s *Server) PushRaw(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.format != "" && !c.silent {
			c.wmu.Lock()
			_, _ = c.nc.Write(b)
			c.wmu.Unlock()
		}
	}
}

// Heartbeat pushes a HEARTBEAT event.
func (s *Server) Heartbeat() {
	s.Push(Event{"Event-Name": "HEARTBEAT", "Core-UUID": "6a1e2c2e-0000-4000-8000-000000000001",
		"Event-Date-Timestamp": fmt.Sprint(time.Now().UnixMicro()), "Up-Time": "0 years, 0 days, 1 hour", "Session-Count": "0"})
}

// ReadRecording reads a recording of one JSON event per line.
func ReadRecording(t testing.TB, path string) []Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("esltest: %v", err)
	}
	defer f.Close()
	var out []Event
	dec := json.NewDecoder(f)
	for {
		var e Event
		if err := dec.Decode(&e); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("esltest: %s: %v", path, err)
		}
		out = append(out, e)
	}
}

func (s *Server) serve(nc net.Conn) {
	c := &conn{nc: nc}
	s.mu.Lock()
	reject := s.reject
	if !reject {
		s.conns[c] = true
	}
	s.mu.Unlock()
	s.Notify()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.Notify()
	}()
	if reject {
		// mod_event_socket's answer to a peer its ACL refuses.
		c.send("Content-Type: text/rude-rejection\n", "Access Denied, go away.\n")
		return
	}
	c.send("Content-Type: auth/request\n", "")
	br := bufio.NewReader(nc)
	for {
		cmd, err := readCommand(br)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.commands = append(s.commands, cmd)
		silent := c.silent
		s.mu.Unlock()
		s.Notify()
		if silent {
			continue
		}
		if !s.handle(c, cmd) {
			return
		}
	}
}

// readCommand reads one command: lines up to an empty line; the first is
// the command, further lines are headers (Job-UUID on bgapi).
func readCommand(br *bufio.Reader) (string, error) {
	var lines []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(lines) == 0 {
				continue
			}
			return strings.Join(lines, "\n"), nil
		}
		lines = append(lines, line)
	}
}

// handle answers one command; false ends the connection.
func (s *Server) handle(c *conn, cmd string) bool {
	first, headers, _ := strings.Cut(cmd, "\n")
	verb, args, _ := strings.Cut(first, " ")
	if !c.authed && verb != "auth" {
		c.reply("-ERR command not found")
		return true
	}
	switch verb {
	case "auth":
		s.mu.Lock()
		ok := args == s.password
		s.mu.Unlock()
		if !ok {
			// FreeSWITCH answers a wrong password and hangs up.
			c.reply("-ERR invalid")
			c.send("Content-Type: text/disconnect-notice\n", "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")
			return false
		}
		c.authed = true
		c.reply("+OK accepted")
	case "event":
		format, _, _ := strings.Cut(args, " ")
		if format != "json" && format != "plain" {
			c.reply("-ERR invalid format")
			return true
		}
		s.mu.Lock()
		c.format = format
		s.mu.Unlock()
		s.Notify()
		c.reply("+OK event listener enabled " + format)
	case "filter":
		c.reply("+OK filter added. [" + args + "]")
	case "nixevent":
		c.reply("+OK events removed")
	case "noevents":
		c.reply("+OK no longer listening for events")
	case "api":
		name, rest, _ := strings.Cut(args, " ")
		c.send("Content-Type: api/response\n", s.apiResult(name, rest))
	case "bgapi":
		name, rest, _ := strings.Cut(args, " ")
		job := ""
		for _, h := range strings.Split(headers, "\n") {
			if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Job-UUID") {
				job = strings.TrimSpace(v)
			}
		}
		if job == "" {
			job = "7f4db78a-17d7-11ee-a9c1-000000000001"
		}
		c.sendHeaders("Content-Type: command/reply\nReply-Text: +OK Job-UUID: " + job + "\nJob-UUID: " + job + "\n")
		s.mu.Lock()
		result := "+OK 2b8d7e3a-0000-4000-8000-000000000002\n"
		if s.jobs != nil {
			result = s.jobs(name, rest)
		}
		s.mu.Unlock()
		c.sendEvent(Event{"Event-Name": "BACKGROUND_JOB", "Core-UUID": "6a1e2c2e-0000-4000-8000-000000000001",
			"Event-Date-Timestamp": fmt.Sprint(time.Now().UnixMicro()), "Job-UUID": job, "Job-Command": name,
			"Job-Command-Arg": rest, "_body": result}, s.plain)
	case "exit":
		c.reply("+OK bye")
		c.send("Content-Type: text/disconnect-notice\n", "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")
		return false
	default:
		c.reply("-ERR command not found")
	}
	return true
}

func (s *Server) apiResult(name, args string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.api != nil {
		if out := s.api(name, args); out != "" {
			return out
		}
	}
	switch name {
	case "show":
		if strings.HasPrefix(args, "channels") || strings.HasPrefix(args, "calls") {
			return s.channels + "\n"
		}
		return "-ERR unknown show\n"
	case "uuid_kill", "uuid_transfer":
		return "+OK\n"
	case "status":
		return "UP 0 years, 0 days, 1 hour\nFreeSWITCH (Version 1.10.12) is ready\n"
	}
	return "-ERR " + name + " Command not found!\n"
}

func (c *conn) reply(text string) {
	c.sendHeaders("Content-Type: command/reply\nReply-Text: " + text + "\n")
}

func (c *conn) sendHeaders(h string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, _ = io.WriteString(c.nc, h+"\n")
}

// send writes a message with a body, Content-Length first as
// mod_event_socket writes it.
func (c *conn) send(contentType, body string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if body == "" {
		_, _ = io.WriteString(c.nc, contentType+"\n")
		return
	}
	_, _ = io.WriteString(c.nc, fmt.Sprintf("Content-Length: %d\n%s\n%s", len(body), contentType, body))
}

func (c *conn) sendEvent(e Event, plain bool) {
	if plain || c.format == "plain" {
		c.send("Content-Type: text/event-plain\n", Plain(e))
		return
	}
	b, _ := json.Marshal(e)
	c.send("Content-Type: text/event-json\n", string(b))
}

// Plain renders e as a text/event-plain body: URL-encoded header lines in
// a stable order, a blank line, then the body with its own
// Content-Length.
func Plain(e Event) string {
	keys := make([]string, 0, len(e))
	for k := range e {
		if k != "_body" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\n", k, url.PathEscape(e[k]))
	}
	if body, ok := e["_body"]; ok {
		fmt.Fprintf(&b, "Content-Length: %d\n\n%s", len(body), body)
		return b.String()
	}
	b.WriteString("\n")
	return b.String()
}
