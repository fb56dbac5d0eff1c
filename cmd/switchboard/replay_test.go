package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

// TestReplayPrintsEnvelopes replays recordings of each source type and
// reads every printed line back as an event envelope: numbered from 1
// without gaps, stamped, of a known kind, and as many as the summary says.
func TestReplayPrintsEnvelopes(t *testing.T) {
	tests := []struct {
		source, file string
		ended        map[monitor.Reason]int
		users        int
	}{
		{"fritz", filepath.Join("..", "..", "monitor", "fritz", "testdata", "demo.txt"),
			map[monitor.Reason]int{monitor.ReasonCompleted: 8, monitor.ReasonNoAnswer: 4, monitor.ReasonCancelled: 2}, 0},
		{"ami", filepath.Join("..", "..", "monitor", "ami", "testdata", "simple", "a_created_no_answer.json"), nil, 1},
		{"esl", filepath.Join("..", "..", "monitor", "esl", "testdata", "busy.jsonl"), map[monitor.Reason]int{monitor.ReasonBusy: 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := replay(context.Background(), []string{"--source", tt.source, "--name", "rec", tt.file}, nil, &out, &errOut); err != nil {
				t.Fatal(err)
			}
			kinds := map[monitor.Kind]int{}
			ended := map[monitor.Reason]int{}
			sc := bufio.NewScanner(&out)
			sc.Buffer(nil, 1<<20)
			var seq uint64
			for sc.Scan() {
				var ev monitor.Event
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					t.Fatalf("line %d: %v\n%s", seq+1, err, sc.Bytes())
				}
				if ev.Seq != seq+1 || ev.At.IsZero() {
					t.Fatalf("line %d is seq %d at %v", seq+1, ev.Seq, ev.At)
				}
				seq = ev.Seq
				kinds[ev.Kind()]++
				if c, ok := ev.Payload.(*monitor.Call); ok {
					if c.Source != "rec" {
						t.Fatalf("call %s from source %q, want rec", c.ID, c.Source)
					}
					if c.State == monitor.Ended {
						ended[c.Reason]++
					}
				}
				// The line is the envelope as /events carries it.
				if again, err := ev.JSON(); err != nil || !bytes.Equal(again, sc.Bytes()) {
					t.Fatalf("line %d re-encodes as %s", seq, again)
				}
			}
			if seq == 0 || kinds[monitor.KindCall] == 0 {
				t.Fatalf("no call changes printed: %v", kinds)
			}
			if tt.ended != nil && fmt.Sprint(ended) != fmt.Sprint(tt.ended) {
				t.Errorf("ended %v, want %v", ended, tt.ended)
			}
			if tt.users >= 0 && kinds[monitor.KindUser] != tt.users {
				t.Errorf("%d user events, want %d", kinds[monitor.KindUser], tt.users)
			}
			summary := errOut.String()
			want := fmt.Sprintf("%d call changes", kinds[monitor.KindCall])
			if !strings.HasPrefix(summary, "replayed in ") || !strings.Contains(summary, want) || !strings.Contains(summary, fmt.Sprintf("%d user events", kinds[monitor.KindUser])) {
				t.Errorf("summary %q, want %q", summary, want)
			}
		})
	}
}

// TestReplayReadsStdin replays "-" from the given reader.
func TestReplayReadsStdin(t *testing.T) {
	var out, errOut bytes.Buffer
	in := strings.NewReader("23.11.26 10:15:03;RING;0;01701234567;5551234;SIP0;\n23.11.26 10:15:20;DISCONNECT;0;0;\n")
	if err := replay(context.Background(), []string{"--source", "fritz", "-"}, in, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	// The call's two changes, each followed by the change of the line's
	// lamp it makes.
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], `{"type":"call","seq":1,"at":`) || !strings.Contains(lines[2], `"reason":"no-answer"`) ||
		!strings.HasPrefix(lines[1], `{"type":"extension","seq":2,`) || !strings.Contains(lines[3], `"state":"idle"`) {
		t.Fatalf("printed %q", out.String())
	}
	if err := replay(context.Background(), []string{"--source", "nope", "-"}, in, &out, &errOut); err == nil {
		t.Fatal("unknown --source accepted")
	}
}
