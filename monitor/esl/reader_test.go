package esl

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor/esl/esltest"
)

func TestReaderMessages(t *testing.T) {
	stream := "Content-Type: auth/request\n\n" +
		"Content-Type: command/reply\nReply-Text: +OK accepted\n\n" +
		"Content-Type: api/response\nContent-Length: 3\n\n+OK" +
		"\nContent-Length: 58\nContent-Type: text/event-json\n\n" + `{"Event-Name":"HEARTBEAT","Core-UUID":"x","Up-Time":"1 s"}` +
		"Content-Length: 66\nContent-Type: text/event-plain\n\n" + "Event-Name: CUSTOM\nEvent-Subclass: sofia%3A%3Atransferor\nA: b%20c\n\n" +
		"Content-Type: text/disconnect-notice\nContent-Length: 23\n\nDisconnected, goodbye.\n"
	r := NewReader(strings.NewReader(stream))
	var types []string
	var events []Event
	for {
		msg, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %v: %v", types, err)
		}
		ct := msg.Headers.Get("Content-Type")
		types = append(types, ct)
		if strings.HasPrefix(ct, "text/event") {
			e, err := ParseEvent(msg)
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, e)
		}
		if ct == TypeAPIResponse && string(msg.Body) != "+OK" {
			t.Errorf("api body %q", msg.Body)
		}
	}
	want := "auth/request command/reply api/response text/event-json text/event-plain text/disconnect-notice"
	if strings.Join(types, " ") != want {
		t.Fatalf("types %v", types)
	}
	if events[0].Name() != "HEARTBEAT" || events[0].Get("Up-Time") != "1 s" {
		t.Errorf("json event %v", events[0])
	}
	if events[1].Name() != "sofia::transferor" || events[1]["A"] != "b c" {
		t.Errorf("plain event %v", events[1])
	}
}

// TestPlainAndJSONAgree renders every fixture event both ways and checks
// the two decode to the same event.
func TestPlainAndJSONAgree(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.jsonl"))
	for _, f := range files {
		for i, ev := range esltest.ReadRecording(t, f) {
			plain, err := parsePlainEvent([]byte(esltest.Plain(ev)))
			if err != nil {
				t.Fatalf("%s:%d: %v", f, i+1, err)
			}
			raw := map[string]any{}
			for k, v := range ev {
				raw[k] = v
			}
			js, err := eventFromMap(raw)
			if err != nil {
				t.Fatal(err)
			}
			if len(plain) != len(js) {
				t.Fatalf("%s:%d: %d plain headers, %d json", f, i+1, len(plain), len(js))
			}
			for k, v := range js {
				if plain[k] != v {
					t.Errorf("%s:%d: %s = %q plain, %q json", f, i+1, k, plain[k], v)
				}
			}
		}
	}
}

func TestReaderRejectsBadInput(t *testing.T) {
	tests := map[string]string{
		"no colon":          "Content-Type auth/request\n\n",
		"bad length":        "Content-Length: x\n\n",
		"negative length":   "Content-Length: -1\n\n",
		"huge length":       "Content-Length: 999999999\n\n",
		"short body":        "Content-Length: 10\n\nabc",
		"absurd length":     "Content-Length: 99999999999\n\n",
		"endless line":      strings.Repeat("a", maxLine+10),
		"truncated headers": "Content-Type: command/reply\nReply-Text: +OK",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(in)).Read()
			if err == nil || errors.Is(err, io.EOF) {
				t.Fatalf("Read = %v, want an error", err)
			}
		})
	}
	if _, err := NewReader(strings.NewReader(strings.Repeat("a", maxLine+10))).Read(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("endless line: %v, want ErrTooLarge", err)
	}
}

// TestReaderSkipsAndStaysInStep: a message the reader cannot take is
// consumed to its end and reported with its headers; the next message
// reads whole. One it cannot find the end of is ErrFraming.
func TestReaderSkipsAndStaysInStep(t *testing.T) {
	next := "Content-Type: command/reply\nReply-Text: +OK\n\n"
	tests := []struct {
		name string
		bad  string
		want error
	}{
		{"no colon", "Content-Type: text/event-json\nno colon\nContent-Length: 2\n\n{}", ErrMalformed},
		{"over-long line", "Content-Type: text/event-json\nX: " + strings.Repeat("a", maxLine+10) + "\nContent-Length: 2\n\n{}", ErrTooLarge},
		{"too many headers", "Content-Type: text/event-json\n" + strings.Repeat("X: y\n", maxHeaders+1) + "\n", ErrTooLarge},
		{"body over the limit", "Content-Type: text/event-json\nContent-Length: " + strconv.Itoa(maxBody+1) + "\n\n" + strings.Repeat("b", maxBody+1), ErrTooLarge},
		{"bad length", "Content-Type: text/event-json\nContent-Length: x\n\n", ErrFraming},
		{"over-long length line", "Content-Length: " + strings.Repeat("1", maxLine+10) + "\n\n", ErrFraming},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.bad + next))
			msg, err := r.Read()
			if !errors.Is(err, tt.want) {
				t.Fatalf("Read = %v, want %v", err, tt.want)
			}
			if errors.Is(tt.want, ErrFraming) {
				if msg != nil {
					t.Errorf("a lost stream returned a message: %+v", msg)
				}
				return
			}
			if msg == nil || msg.Headers.Get("Content-Type") != TypeEventJSON || msg.Body != nil {
				t.Fatalf("skipped message %+v, want its headers and no body", msg)
			}
			msg, err = r.Read()
			if err != nil || msg.GetReply() != "+OK" {
				t.Fatalf("next Read = %+v, %v: the reader lost its step", msg, err)
			}
		})
	}
}

func TestParseEventErrors(t *testing.T) {
	for _, body := range []string{`{`, `[]`, `{"A":"b"}`, `{"Event-Name":""}`} {
		if _, err := parseJSONEvent([]byte(body)); err == nil {
			t.Errorf("parseJSONEvent(%q) accepted", body)
		}
	}
	for _, body := range []string{"A: b\n\n", "Event-Name: X\nContent-Length: 99\n\nshort"} {
		if _, err := parsePlainEvent([]byte(body)); err == nil {
			t.Errorf("parsePlainEvent(%q) accepted", body)
		}
	}
}

func TestReplayReportsBadLine(t *testing.T) {
	in := `{"Event-Name":"HEARTBEAT"}` + "\n" + `{"Event-Name": 3` + "\n"
	err := Replay(context.Background(), "fs", strings.NewReader(in), newRecorder())
	if err == nil || !strings.Contains(err.Error(), "event 2") {
		t.Fatalf("Replay = %v, want an error naming event 2", err)
	}
}

// FuzzReader feeds arbitrary bytes to the reader, the event parsers and
// the tracker: they may refuse input but must neither panic nor loop, and
// an event they accept always has a name.
func FuzzReader(f *testing.F) {
	f.Add([]byte("Content-Type: auth/request\n\n"))
	f.Add([]byte("Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n"))
	f.Add([]byte("Content-Length: 66\nContent-Type: text/event-plain\n\nEvent-Name: CUSTOM\nEvent-Subclass: sofia%3A%3Atransferor\nA: b%20c\n\n"))
	files, _ := filepath.Glob(filepath.Join("testdata", "*.jsonl"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		f.Add([]byte("Content-Length: " + strconv.Itoa(len(line)) + "\nContent-Type: text/event-json\n\n" + string(line)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for i := 0; i < 64; i++ {
			msg, err := r.Read()
			if msg != nil && (errors.Is(err, ErrTooLarge) || errors.Is(err, ErrMalformed)) {
				continue // skipped and consumed: the reader is still in step
			}
			if err != nil {
				return
			}
			if ct := msg.Headers.Get("Content-Type"); strings.HasPrefix(ct, "text/event-") {
				if e, err := ParseEvent(msg); err == nil && e[hEventName] == "" {
					t.Fatalf("event without a name: %v", e)
				}
			}
			tr := NewTracker("fs", nil, nil)
			if e, err := ParseEvent(msg); err == nil {
				tr.Handle(e)
			}
		}
	})
}
