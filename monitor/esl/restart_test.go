package esl

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/esl/esltest"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

// TestRestartTakesOverTheCallsFreeSWITCHStillHas: after a crash of the
// server, the first `show channels` re-creates the calls FreeSWITCH
// still has under the ids they had (their call UUIDs): a Restart hands
// them over with their first start and answer, they go on being
// followed (published once by the resync, connected, not ringing
// first), and a call FreeSWITCH no longer has ends as failed "server
// restarted".
func TestRestartTakesOverTheCallsFreeSWITCHStillHas(t *testing.T) {
	srv := esltest.New(t)
	ctx := testCtx(t)
	held := fixtureEvents(t, "held.jsonl")
	keep := held[0]["Unique-ID"]
	channels, err := os.ReadFile(filepath.Join("testdata", "channels.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetChannels(string(channels))
	started := time.Date(2025, 11, 23, 13, 13, 19, 250_000_000, time.UTC)
	kept := []monitor.Call{
		{ID: monitor.MakeCallID("fs", keep), Source: "fs", Direction: monitor.Inbound, State: monitor.Connected,
			From: monitor.Party{Number: "+4930123456"}, Started: started, Answered: started.Add(4 * time.Second)},
		{ID: "fs:0b7e6c2a-0000-4000-8000-00000000dead", Source: "fs", Direction: monitor.Inbound, State: monitor.Ringing, Started: started},
	}
	rec := monitortest.NewRecorder()
	restart := monitor.NewRestart(rec, kept)
	s, err := New(Config{Name: "fs", Type: "esl", Password: "ClueCon", HeartbeatTimeout: 5 * time.Second,
		LinkConfig: monitor.LinkConfig{Address: srv.Addr(), ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond}},
		WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	monitortest.Start(t, func(ctx context.Context) error { return s.Run(ctx, restart) })
	if err := srv.WaitSubscribed(ctx, 1); err != nil {
		t.Fatal(err)
	}
	rec.WaitFor(t, "the gone call ended", func() bool { return len(rec.Ended()) == 1 })
	if c := rec.Ended()[0]; c.ID != kept[1].ID || c.Reason != monitor.ReasonFailed || c.Cause != monitor.CauseServerRestarted {
		t.Fatalf("ended %+v, want %s failed, server restarted", c, kept[1].ID)
	}
	live, ok := rec.Active()[kept[0].ID]
	if !ok || live.State != monitor.Connected || !live.Started.Equal(started) || !live.Answered.Equal(kept[0].Answered) {
		t.Fatalf("the call FreeSWITCH still has: %+v, want it connected with its first start and answer", live)
	}
	if got := rec.States(kept[0].ID); len(got) != 1 {
		t.Fatalf("the call taken over was published %v by the resync, want once, connected", got)
	}
	srv.Push(held[9:]...)
	rec.WaitFor(t, "the call taken over ended", func() bool { return len(rec.Ended()) == 2 })
	if c := rec.Ended()[1]; c.ID != kept[0].ID || c.Reason != monitor.ReasonCompleted || !c.Started.Equal(started) {
		t.Errorf("the call taken over ended %+v", c)
	}
}
