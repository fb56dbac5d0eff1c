package web

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/monitor"
)

func TestAppendTextFrame(t *testing.T) {
	tests := []struct {
		n    int
		head []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	}
	for _, tt := range tests {
		p := bytes.Repeat([]byte("x"), tt.n)
		got := appendTextFrame([]byte("prev"), p)
		want := append(append([]byte("prev"), tt.head...), p...)
		if !bytes.Equal(got, want) {
			t.Errorf("frame of %d bytes: header %x, want %x", tt.n, got[4:4+len(tt.head)], tt.head)
		}
	}
}

// TestEventsBatchedInOrder: changes that pile up while a client is
// connected arrive as separate messages, in order, whatever their size
// (frames of every length form), as before.
func TestEventsBatchedInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{SubscriberBuffer: 4096})
	ctx := testCtx(t)
	conn := dialEvents(t, ctx, e.ts.URL, "", nil)
	snap := mustRead(t, ctx, conn)
	sizes := []int{0, 100, 126, 70000}
	const n = 400
	for i := range n {
		c := testCall("home", fmt.Sprint(i), monitor.Ringing)
		c.Vars = map[string]string{"pad": strings.Repeat("y", sizes[i%len(sizes)])}
		e.hub.Call(c)
	}
	for i := range n {
		m := mustRead(t, ctx, conn)
		if m.Seq != snap.Seq+uint64(i)+1 || m.Call == nil || m.Call.ID != monitor.CallID("home:"+fmt.Sprint(i)) {
			t.Fatalf("message %d: seq %d call %+v, want seq %d", i, m.Seq, m.Call, snap.Seq+uint64(i)+1)
		}
	}
}

// TestEventsBehindClientDropped: a client that leaves more than the
// backlog unread is held back and then dropped as too slow, with the
// close frame, although the hub's queue never fills; a reading client is
// served throughout.
func TestEventsBehindClientDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{SubscriberBuffer: 1 << 20}, WithEventBacklog(32<<10, 1))
	ctx := testCtx(t)
	stalled := dialEvents(t, ctx, e.ts.URL, "", nil)
	fast := dialEvents(t, ctx, e.ts.URL, "", nil)
	snap := mustRead(t, ctx, fast)
	pad := strings.Repeat("x", 4<<10)
	published := 0
	for e.hub.Stats().Dropped[monitor.CloseSlow] == 0 {
		if published == 200000 {
			t.Fatal("stalled client never dropped")
		}
		c := testCall("home", fmt.Sprint(published), monitor.Ringing)
		c.Vars = map[string]string{"pad": pad}
		e.hub.Call(c)
		published++
		if m := mustRead(t, ctx, fast); m.Seq != snap.Seq+uint64(published) {
			t.Fatalf("fast client got seq %d, want %d", m.Seq, snap.Seq+uint64(published))
		}
	}
	var err error
	for err == nil {
		_, err = readMsg(ctx, stalled)
	}
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != closeTooSlow {
		t.Fatalf("stalled client ended with %v, want policy violation %q", err, closeTooSlow)
	}
}
