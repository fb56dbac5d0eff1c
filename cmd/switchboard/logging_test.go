package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor/ami/amitest"
	"github.com/switchboard/switchboard/monitor/esl/esltest"
	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
)

// logRecord is one record as a handler saw it: its message and its
// attributes, those added by With first.
type logRecord struct {
	msg   string
	attrs []slog.Attr
}

func (r logRecord) String() string {
	var b strings.Builder
	b.WriteString("msg=" + r.msg)
	for _, a := range r.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	return b.String()
}

func (r logRecord) value(key string) string {
	for _, a := range r.attrs {
		if a.Key == key {
			return a.Value.String()
		}
	}
	return ""
}

// recordingHandler keeps every record with all its attributes.
type recordingHandler struct {
	mu      *sync.Mutex
	records *[]logRecord
	changed *chan struct{}
	with    []slog.Attr
	group   string
}

func newRecordingHandler() *recordingHandler {
	ch := make(chan struct{})
	return &recordingHandler{mu: new(sync.Mutex), records: new([]logRecord), changed: &ch}
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{msg: r.Message, attrs: slices.Clone(h.with)}
	r.Attrs(func(a slog.Attr) bool {
		a.Key = h.group + a.Key
		rec.attrs = append(rec.attrs, a)
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.records = append(*h.records, rec)
	close(*h.changed)
	*h.changed = make(chan struct{})
	return nil
}

func (h *recordingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.with = slices.Clone(h.with)
	for _, a := range as {
		a.Key = h.group + a.Key
		c.with = append(c.with, a)
	}
	return &c
}

func (h *recordingHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.group = h.group + name + "."
	return &c
}

// waitFor waits for a record that match accepts.
func (h *recordingHandler) waitFor(t *testing.T, what string, match func(logRecord) bool) {
	t.Helper()
	timeout := time.NewTimer(20 * time.Second)
	defer timeout.Stop()
	for {
		h.mu.Lock()
		ok := slices.ContainsFunc(*h.records, match)
		ch := *h.changed
		h.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timeout.C:
			t.Fatalf("no log record %s", what)
		}
	}
}

func (h *recordingHandler) all() []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(*h.records)
}

// TestLogAttributesOnce runs the server with a source of every type and
// a SIP account, and checks that no log line carries an attribute twice
// (component=web component=web) while every part names its component.
func TestLogAttributesOnce(t *testing.T) {
	router := fritztest.New(t)
	pbx := amitest.New(t, "admin", "pw")
	fs := esltest.New(t)
	// A registrar that never answers: the account logs its attempts.
	registrar, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer registrar.Close()
	text := fmt.Sprintf(`listen: 127.0.0.1:0
data_dir: %s
log_level: debug
shutdown_timeout: 3s
sources:
  - {name: home, type: fritz, address: "%s"}
  - {name: pbx, type: ami, address: "%s", username: admin, secret: pw}
  - {name: fs, type: esl, address: "%s", password: ClueCon}
  - {name: demo, type: demo, speed: 100}
  - {name: out, type: esl-outbound, listen: "127.0.0.1:0"}
sip:
  listen: 127.0.0.1:0
  register_timeout: 1s
accounts:
  - {name: desk, registrar: "%s", username: "1000", password: pw}
tokens:
  - {name: test, token: %s, role: viewer}
`, t.TempDir(), router.Addr(), pbx.Addr(), fs.Addr(), registrar.LocalAddr(), testToken)
	cfg, err := parseConfig([]byte(text), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := newRecordingHandler()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(h), nil) }()
	for _, src := range []string{"home", "pbx", "fs"} {
		h.waitFor(t, "of "+src+" connected", func(r logRecord) bool { return r.msg == "connected" && r.value("source") == src })
	}
	h.waitFor(t, "of the web server", func(r logRecord) bool { return r.value("component") == "web" })
	h.waitFor(t, "of the sip side", func(r logRecord) bool { return r.value("component") == "sip" })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}

	components := map[string]bool{}
	for _, r := range h.all() {
		seen := map[string]bool{}
		for _, a := range r.attrs {
			// sipgo names its caller at every layer; the process logger
			// keeps the last (TestOnceHandler). Every other attribute is
			// ours, and added once.
			if seen[a.Key] && a.Key != "caller" {
				t.Errorf("attribute %s twice: %s", a.Key, r)
			}
			seen[a.Key] = true
		}
		components[r.value("component")] = true
		// A source's lines say which source.
		if c := r.value("component"); c == "fritz" || c == "ami" || c == "esl" {
			if r.value("source") == "" {
				t.Errorf("a %s line without its source: %s", c, r)
			}
		}
	}
	for _, c := range []string{"web", "sip", "gateway", "fritz", "ami", "esl"} {
		if !components[c] {
			t.Errorf("no log line of component %s (saw %v)", c, components)
		}
	}
}

// TestOnceHandler: the process logger writes each attribute once, the
// later one in the place of the earlier.
func TestOnceHandler(t *testing.T) {
	var b strings.Builder
	l := newLoggerTo(&b, slog.LevelDebug)
	l = l.With("component", "sip", "caller", "TransportLayer").With("caller", "Transport<UDP>")
	l.Info("begin listening", "component", "sip", "addr", "127.0.0.1:5060")
	l.WithGroup("g").Info("grouped", "caller", "inner")
	got := regexp.MustCompile(`time=\S+ `).ReplaceAllString(b.String(), "")
	want := "level=INFO msg=\"begin listening\" component=sip caller=Transport<UDP> addr=127.0.0.1:5060\n" +
		"level=INFO msg=grouped component=sip caller=Transport<UDP> g.caller=inner\n"
	if got != want {
		t.Errorf("logged\n%s\nwant\n%s", got, want)
	}
}
