package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

// TestReplayPrintsQueuesAndExtensions: a recording holding only a
// QueueStatus reply's events (QueueParams, QueueMember, QueueEntry)
// prints the queues as envelopes, and the presence stream prints the
// extensions, both as /events carries them.
func TestReplayPrintsQueuesAndExtensions(t *testing.T) {
	tests := []struct {
		file  string
		kind  monitor.Kind
		check func(t *testing.T, last map[string]monitor.Event)
	}{
		{"../../monitor/ami/testdata/state/queuestatus.jsonl", monitor.KindQueue, func(t *testing.T, last map[string]monitor.Event) {
			t.Helper()
			q, ok := last["ami:support"].Payload.(*monitor.Queue)
			if !ok || len(q.Members) != 2 || len(q.Callers) != 1 || q.Stats.SL != monitor.Known(80) {
				t.Fatalf("support %+v", last["ami:support"].Payload)
			}
		}},
		{"../../monitor/esl/testdata/state/presence.jsonl", monitor.KindExtension, func(t *testing.T, last map[string]monitor.Event) {
			t.Helper()
			e, ok := last["esl:1002@192.0.2.10"].Payload.(*monitor.Extension)
			if !ok || e.Lamp != monitor.LampOffline {
				t.Fatalf("1002 %+v", last["esl:1002@192.0.2.10"].Payload)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			var out, errOut bytes.Buffer
			source := strings.Split(tt.file, "/")[3]
			if err := replay(context.Background(), []string{"--source", source, tt.file}, nil, &out, &errOut); err != nil {
				t.Fatal(err)
			}
			last := map[string]monitor.Event{}
			sc := bufio.NewScanner(&out)
			for sc.Scan() {
				if !bytes.HasPrefix(sc.Bytes(), []byte(`{"type":"`+string(tt.kind)+`","seq":`)) {
					continue
				}
				var ev monitor.Event
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					t.Fatalf("%s: %v", sc.Bytes(), err)
				}
				switch p := ev.Payload.(type) {
				case *monitor.Queue:
					last[string(p.ID)] = ev
				case *monitor.Extension:
					last[string(p.ID)] = ev
				}
			}
			if len(last) == 0 {
				t.Fatalf("no %s printed:\n%s", tt.kind, out.String())
			}
			tt.check(t, last)
			if !strings.Contains(errOut.String(), string(tt.kind)+" changes") {
				t.Fatalf("summary %q", errOut.String())
			}
		})
	}
}
