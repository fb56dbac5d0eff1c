package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

// replay runs the replay command with the given streams.
func replay(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) error {
	return runReplay(ctx, stdio{in: in, out: out, err: errOut}, args)
}

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

// TestReplayReportsUnreadableLines: lines replay cannot read are counted
// and the first few shown with their line numbers; the rest is replayed.
func TestReplayReportsUnreadableLines(t *testing.T) {
	code, out, errOut := run(t, "", "replay", filepath.Join("testdata", "replay", "fritz_with_bad_lines.txt"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "replay testdata/replay/fritz_with_bad_lines.txt: 7 of 10 lines could not be read:\n" +
		"  line 2: this line is broken (not a call-monitor line: 1 fields, want at least 4)\n" +
		"  line 4: 23.11.26 10:15:05;RINGING;0;01701234567;1234567;SIP0; (not a RING, CALL, CONNECT or DISCONNECT line)\n" +
		"  line 5: 31.02.26 10:15:06;RING;2;01701234567;1234567;SIP0; (not a call-monitor line: date \"31.02.26 10:15:06\" out of range)\n" +
		"  line 6: 23.11.26 10:15:04;RING;1;01701111111111111111111111111111111… (longer than 1024 bytes)\n" +
		"  line 8: 23.11.26 10:15:08;CONNECT;x;10;01701234567; (not a call-monitor line: connection id \"x\")\n" +
		"  … and 2 more\n" +
		"replayed in "
	if !strings.HasPrefix(errOut, want) {
		t.Errorf("stderr\n%s\nwant it to start\n%s", errOut, want)
	}
	if n := strings.Count(out, `{"type":"call",`); n != 3 || !strings.Contains(out, `"reason":"completed"`) {
		t.Errorf("%d call changes printed, want 3 (ring, connect, end):\n%s", n, out)
	}
}

// TestReplayNothingRead: a file none of which is a recording of the
// given type exits 1, and says what it looks like when that can be told.
func TestReplayNothingRead(t *testing.T) {
	fritzRec := filepath.Join("..", "..", "monitor", "fritz", "testdata", "demo.txt")
	amiArray := filepath.Join("..", "..", "monitor", "ami", "testdata", "simple", "ab_a_cancel.json")
	amiPretty := filepath.Join("..", "..", "monitor", "ami", "testdata", "simple", "ab_success_a_hangup.json")
	eslRec := filepath.Join("..", "..", "monitor", "esl", "testdata", "busy.jsonl")
	tests := []struct{ source, file, want string }{
		{"ami", fritzRec, "nothing could be read as an Asterisk AMI recording; it looks like a Fritz!Box call-monitor recording: try --source fritz\n"},
		{"esl", fritzRec, "nothing could be read as a FreeSWITCH event socket recording; it looks like a Fritz!Box call-monitor recording: try --source fritz\n"},
		{"esl", amiArray, "nothing could be read as a FreeSWITCH event socket recording; it looks like an Asterisk AMI recording: try --source ami\n"},
		{"fritz", amiArray, "nothing could be read as a Fritz!Box call-monitor recording; it looks like an Asterisk AMI recording: try --source ami\n"},
		{"fritz", amiPretty, "nothing could be read as a Fritz!Box call-monitor recording; it looks like an Asterisk AMI recording: try --source ami\n"},
		{"ami", eslRec, "nothing could be read as an Asterisk AMI recording; it looks like a FreeSWITCH event socket recording: try --source esl\n"},
		{"fritz", eslRec, "nothing could be read as a Fritz!Box call-monitor recording; it looks like a FreeSWITCH event socket recording: try --source esl\n"},
		{"ami", filepath.Join("testdata", "replay", "ami_text.txt"), "nothing could be read as an Asterisk AMI recording; it looks like raw AMI protocol text: replay reads the JSON lines `switchboard record --ami` writes\n"},
		{"fritz", filepath.Join("testdata", "replay", "prose.txt"), ": nothing could be read as a Fritz!Box call-monitor recording\n"},
		{"fritz", "-", "switchboard replay: (stdin): no events: the input is empty\n"},
	}
	for _, tt := range tests {
		t.Run(tt.source+" "+filepath.Base(tt.file), func(t *testing.T) {
			code, out, errOut := run(t, "", "replay", "--source", tt.source, tt.file)
			if code != 1 || out != "" || !strings.HasSuffix(errOut, tt.want) {
				t.Fatalf("exit %d, stdout %q, stderr\n%s\nwant 1 and\n%s", code, out, errOut, tt.want)
			}
			if tt.file != "-" && !strings.Contains(errOut, "could not be read:\n  line ") {
				t.Errorf("no report of the lines:\n%s", errOut)
			}
		})
	}
}

// TestReplayJSONInput: JSON lines with broken lines among them, events
// pretty-printed over several lines, and an array that breaks off.
func TestReplayJSONInput(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "monitor", "esl", "testdata", "busy.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	events := strings.Split(strings.TrimSpace(string(raw)), "\n")

	t.Run("broken lines", func(t *testing.T) {
		lines := append([]string{}, events[0], `{"Event-Name":"CHANNEL_CREATE","Unique-ID":`, "not json", `{"foo":"bar"}`)
		lines = append(lines, events[1:]...)
		code, out, errOut := run(t, strings.Join(lines, "\n")+"\n", "replay", "--source", "esl", "-")
		want := fmt.Sprintf("replay (stdin): 3 of %d lines could not be read:\n", len(events)+3) +
			"  line 2: {\"Event-Name\":\"CHANNEL_CREATE\",\"Unique-ID\": (not JSON: it ends in the middle)\n" +
			"  line 3: not json (not JSON: invalid character 'o' in literal null (expecting 'u'))\n" +
			"  line 4: {\"foo\":\"bar\"} (no Event-Name: not a FreeSWITCH event)\n" +
			"replayed in "
		if code != 0 || !strings.HasPrefix(errOut, want) || !strings.Contains(out, `"reason":"busy"`) {
			t.Fatalf("exit %d, stderr\n%s\nwant\n%s\nstdout\n%s", code, errOut, want, out)
		}
	})

	t.Run("pretty-printed", func(t *testing.T) {
		var b strings.Builder
		for _, e := range events {
			var v map[string]any
			if err := json.Unmarshal([]byte(e), &v); err != nil {
				t.Fatal(err)
			}
			pretty, _ := json.MarshalIndent(v, "", "  ")
			b.Write(pretty)
			b.WriteString("\n")
		}
		code, out, errOut := run(t, b.String(), "replay", "--source", "esl", "-")
		if code != 0 || strings.Contains(errOut, "could not be read") || !strings.Contains(out, `"reason":"busy"`) {
			t.Fatalf("exit %d, stderr\n%s\nstdout\n%s", code, errOut, out)
		}
	})

	t.Run("array with foreign entries", func(t *testing.T) {
		text := "[\n  {\"Event\": \"FullyBooted\", \"Privilege\": \"system,all\"},\n  42,\n  {\"Event-Name\": \"HEARTBEAT\"}\n]\n"
		code, _, errOut := run(t, text, "replay", "--source", "ami", "-")
		want := "replay (stdin): 2 of 3 events could not be read:\n" +
			"  line 3: 42 (not a JSON object)\n" +
			"  line 4: {\"Event-Name\": \"HEARTBEAT\"} (no Event: not an AMI event)\n"
		if code != 0 || !strings.HasPrefix(errOut, want) {
			t.Fatalf("exit %d, stderr\n%s\nwant\n%s", code, errOut, want)
		}
	})

	t.Run("array that breaks off", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join("..", "..", "monitor", "ami", "testdata", "simple", "ab_a_cancel.json"))
		if err != nil {
			t.Fatal(err)
		}
		cut := raw[:len(raw)/2]
		line := bytes.Count(cut, []byte("\n")) + 1
		code, out, errOut := run(t, string(cut), "replay", "--source", "ami", "-")
		want := fmt.Sprintf("replay (stdin): line %d: the JSON breaks off here (it ends in the middle); the rest is not read\n", line)
		if code != 0 || !strings.HasPrefix(errOut, want) || out == "" {
			t.Fatalf("exit %d, stderr\n%s\nwant\n%s", code, errOut, want)
		}
	})
}
