package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/ami"
	"github.com/switchboard/switchboard/monitor/ami/amitest"
	"github.com/switchboard/switchboard/monitor/esl/esltest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestRecordThenReplay records a live manager stream and replays the
// recording into the same calls.
func TestRecordThenReplay(t *testing.T) {
	srv := amitest.New(t, "admin", "pw")
	var out lockedBuffer
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pushed := make(chan struct{})
	go func() {
		_, err := recordAMI(ctx, srv.Addr(), ami.Login{Username: "admin", Secret: "pw", MD5: true}, &out)
		done <- err
	}()
	go func() {
		defer close(pushed)
		for _, m := range []ami.Message{
			ami.M("Event", "Newchannel", "Channel", "SIP/201-1", "Uniqueid", "9.1", "Linkedid", "9.1", "CallerIDNum", "201", "Exten", "202"),
			ami.M("Event", "Hangup", "Channel", "SIP/201-1", "Uniqueid", "9.1", "Linkedid", "9.1", "Cause", "17", "Cause-txt", "User busy"),
		} {
			for srv.Push(m) == 0 {
				// Not logged in yet: the recorder is still connecting.
				select {
				case <-ctx.Done():
					return
				default:
				}
			}
		}
		srv.CloseConns()
	}()
	<-pushed
	if err := <-done; err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("record ended with %v, want the closed link", err)
	}
	out.mu.Lock()
	rec := out.b.String()
	out.mu.Unlock()
	sink := newPrintSink(&bytes.Buffer{})
	if err := ami.Replay(context.Background(), "pbx", strings.NewReader(rec), sink); err != nil {
		t.Fatal(err)
	}
	if sink.ended[monitor.ReasonBusy] != 1 {
		t.Fatalf("replayed %q into %+v", rec, sink.ended)
	}
}

// TestRecordThenReplayESL records a FreeSWITCH event socket through the
// command line and replays the file with the esl replayer.
func TestRecordThenReplayESL(t *testing.T) {
	srv := esltest.New(t)
	srv.SetPassword("s3cret")
	dir := t.TempDir()
	pw, out := filepath.Join(dir, "pw"), filepath.Join(dir, "fs.jsonl")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runRecord(ctx, stdio{out: io.Discard, err: io.Discard}, []string{"--esl", srv.Addr(), "--password-file", pw, out})
	}()
	if err := srv.WaitSubscribed(ctx, 1); err != nil {
		t.Fatal(err)
	}
	srv.Push(esltest.ReadRecording(t, filepath.Join("..", "..", "monitor", "esl", "testdata", "busy.jsonl"))...)
	srv.Disconnect()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "goodbye") {
		t.Fatalf("record ended with %v, want FreeSWITCH's goodbye", err)
	}
	if cmds := srv.Commands(); len(cmds) < 2 || cmds[1] != "event json ALL" {
		t.Errorf("commands %q", cmds)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sink := newPrintSink(&bytes.Buffer{})
	if err := replayers["esl"](context.Background(), "fs", f, sink); err != nil {
		t.Fatal(err)
	}
	if sink.ended[monitor.ReasonBusy] != 1 {
		t.Fatalf("replayed into %+v", sink.ended)
	}
}
