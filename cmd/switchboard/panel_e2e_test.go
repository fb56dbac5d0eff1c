package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/ami"
	"github.com/switchboard/switchboard/monitor/ami/amitest"
)

// panelMsg is an /events message with the state the operator panel reads.
type panelMsg struct {
	Type       string              `json:"type"`
	Seq        uint64              `json:"seq"`
	Extensions []monitor.Extension `json:"extensions"`
	Queues     []monitor.Queue     `json:"queues"`
	Extension  *monitor.Extension  `json:"extension"`
	Queue      *monitor.Queue      `json:"queue"`
	Call       *monitor.Call       `json:"call"`
}

// amiStateList reads one of the AMI state streams for the stand-in.
func amiStateList(t *testing.T, name string) []ami.Message {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "monitor", "ami", "testdata", "state", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []ami.Message
	dec := json.NewDecoder(f)
	for dec.More() {
		var m map[string]string
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		msg := ami.M("Event", m["Event"])
		for k, v := range m {
			if k != "Event" {
				msg = append(msg, ami.Field{Key: k, Value: v})
			}
		}
		if !strings.HasSuffix(m["Event"], "Complete") {
			out = append(out, msg)
		}
	}
	return out
}

// TestServePanelState: an Asterisk's extensions and queues reach /events
// in the snapshot and as deltas, with caller names from a phonebook.
func TestServePanelState(t *testing.T) {
	pbx := amitest.New(t, "admin", "pw")
	for action, file := range map[string]string{
		"ExtensionStateList": "extensionstatelist.jsonl", "DeviceStateList": "devicestatelist.jsonl",
		"PresenceStateList": "presencestatelist.jsonl", "QueueStatus": "queuestatus.jsonl", "QueueSummary": "queuesummary.jsonl",
	} {
		pbx.SetList(action, amiStateList(t, file)...)
	}
	dir := t.TempDir()
	book := filepath.Join(dir, "contacts.csv")
	if err := os.WriteFile(book, []byte("name,number\nBäckerei Schulz,+49 30 1234567\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`listen: 127.0.0.1:0
data_dir: %s
default_country: DE
phonebooks:
  - path: %s
sources:
  - name: pbx
    type: ami
    address: %s
    username: admin
    secret: pw
    ping_interval: 1h
    reconnect_min: 20ms
    reconnect_max: 200ms
tokens:
  - name: test
    token: %s
    role: viewer
`, dir, book, pbx.Addr(), testToken)
	cfg, err := parseConfig([]byte(text), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- serve(sctx, cfg, newLogger(8), func(url string) { ready <- url }) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatalf("serve stopped: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	read := func(c *websocket.Conn, what string, match func(m panelMsg) bool) panelMsg {
		t.Helper()
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
			var m panelMsg
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("bad message %s: %v", b, err)
			}
			if match(m) {
				return m
			}
		}
	}
	dial := func() *websocket.Conn {
		t.Helper()
		ws := "ws" + strings.TrimPrefix(url, "http") + "events"
		c, _, err := websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + testToken}}})
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadLimit(1 << 20)
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	// state follows one subscriber: its snapshot, then the deltas.
	type state struct {
		exts   map[monitor.ExtensionID]monitor.Extension
		queues map[monitor.QueueID]monitor.Queue
	}
	follow := func(c *websocket.Conn, st *state, what string, cond func() bool) {
		t.Helper()
		if cond() {
			return
		}
		read(c, what, func(m panelMsg) bool {
			switch m.Type {
			case "snapshot":
				for _, e := range m.Extensions {
					st.exts[e.ID] = e
				}
				for _, q := range m.Queues {
					st.queues[q.ID] = q
				}
			case "extension":
				st.exts[m.Extension.ID] = *m.Extension
			case "queue":
				st.queues[m.Queue.ID] = *m.Queue
			}
			return cond()
		})
	}
	first := dial()
	st := &state{exts: map[monitor.ExtensionID]monitor.Extension{}, queues: map[monitor.QueueID]monitor.Queue{}}
	follow(first, st, "202 lit by DND and the listed queue", func() bool {
		q := st.queues["pbx:support"]
		return st.exts["pbx:202@ext-local"].Lamp == monitor.LampDND && len(q.Callers) == 1 && len(q.Members) == 2
	})
	if c := st.queues["pbx:support"].Callers[0]; c.Number != "0301234567" || c.Name != "Bäckerei Schulz" {
		t.Fatalf("waiting caller %+v, want the phonebook's name", c)
	}

	// A new subscriber finds both in its snapshot.
	second := dial()
	snap := read(second, "snapshot", func(m panelMsg) bool { return m.Type == "snapshot" })
	found := map[string]bool{}
	for _, e := range snap.Extensions {
		found[string(e.ID)+" "+string(e.Lamp)] = true
	}
	for _, qu := range snap.Queues {
		found[string(qu.ID)] = true
	}
	for _, want := range []string{"pbx:202@ext-local dnd", "pbx:205@ext-local away", "pbx:support", "pbx:sales"} {
		if !found[want] {
			t.Fatalf("snapshot lacks %s: %v", want, found)
		}
	}

	// Deltas: a caller joins, named from the book; the call too.
	pbx.Push(ami.M("Event", "Newchannel", "Channel", "PJSIP/trunk-00000031", "Uniqueid", "1700009000.31", "Linkedid", "1700009000.31",
		"CallerIDNum", "+49301234567", "CallerIDName", "<unknown>", "Exten", "600", "ChannelStateDesc", "Ring", "ChannelState", "4"))
	pbx.Push(ami.M("Event", "QueueCallerJoin", "Channel", "PJSIP/trunk-00000031", "Uniqueid", "1700009000.31", "Linkedid", "1700009000.31",
		"CallerIDNum", "+49301234567", "CallerIDName", "<unknown>", "Queue", "support", "Position", "2", "Count", "2"))
	call := read(second, "the call named", func(m panelMsg) bool { return m.Type == "call" && m.Call.From.Number == "+49301234567" }).Call
	if call.From.Name != "Bäckerei Schulz" {
		t.Fatalf("call from %+v, want the phonebook's name", call.From)
	}
	q := read(second, "the caller joining", func(m panelMsg) bool {
		return m.Type == "queue" && m.Queue.Name == "support" && len(m.Queue.Callers) == 2
	}).Queue
	if c := q.Callers[1]; c.Name != "Bäckerei Schulz" || c.Call != "pbx:1700009000.31" {
		t.Fatalf("joined caller %+v", c)
	}
}
