package cluster_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/cluster"
	"github.com/switchboard/switchboard/monitor/cluster/natstest"
)

// presentKey is the present bucket's key of p.
func presentKey(p monitor.Payload) string {
	return strings.TrimPrefix(cluster.Subject(p), "switchboard.events.")
}

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after 30s (%s)", what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestItemOlderThanTheStream: a node that starts after the stream dropped
// every message (older than it keeps) still has the active call and the
// source in its first snapshot, from the present bucket, and not the call
// that ended.
func TestItemOlderThanTheStream(t *testing.T) {
	srv := natstest.Start(t)
	short := cluster.WithStreamMaxAge(time.Second)
	a := startNode(t, srv.URL(), "a", 0, short)
	waitReady(t, a)
	status := monitor.SourceStatus{Name: "box.1", Type: "fritz", State: monitor.LinkConnected}
	a.pub.SourceStatus(status)
	a.pub.Call(call("live", monitor.Ringing))
	a.pub.Call(call("gone", monitor.Ringing))
	a.pub.Call(call("gone", monitor.Connected))
	a.pub.Call(call("gone", monitor.Ended))
	live := call("live", monitor.Ringing)
	want := []string{presentKey(&status), presentKey(&live)}
	ctx := context.Background()
	waitFor(t, "the bucket holds the source and the live call only", func() (bool, string) {
		seqs, err := a.PresentSeqs(ctx)
		if err != nil {
			return false, err.Error()
		}
		keys := fmt.Sprint(sortedKeys(seqs))
		return keys == fmt.Sprint(want) || keys == fmt.Sprint([]string{want[1], want[0]}), keys
	})
	waitFor(t, "the stream aged out", func() (bool, string) {
		n, err := a.StreamMsgs(ctx)
		return err == nil && n == 0, fmt.Sprintf("%d messages, %v", n, err)
	})

	b := startNode(t, srv.URL(), "b", 0, short)
	waitReady(t, b)
	snap := b.hub.Snapshot()
	if calls := snap.Calls(); len(calls) != 1 || calls[0].ID != "live" || calls[0].State != monitor.Ringing {
		t.Fatalf("node b's calls at start = %+v, want only live, ringing", calls)
	}
	if src := snap.Sources(); len(src) != 1 || src[0].Name != "box.1" || src[0].State != monitor.LinkConnected {
		t.Fatalf("node b's sources at start = %+v", src)
	}

	// The live call ends once its message left the stream: it goes from
	// the bucket, and a node starting then does not have it.
	a.pub.Call(call("live", monitor.Ended))
	waitFor(t, "the ended call left the bucket", func() (bool, string) {
		seqs, err := a.PresentSeqs(ctx)
		_, there := seqs[presentKey(&live)]
		return err == nil && !there, fmt.Sprint(seqs, err)
	})
	c := startNode(t, srv.URL(), "c", 0, short)
	waitReady(t, c)
	if calls := c.hub.Snapshot().Calls(); len(calls) != 0 {
		t.Fatalf("node c's calls at start = %+v, want none", calls)
	}
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range maps.Keys(m) {
		keys = append(keys, k)
	}
	for i := range keys { // a handful: insertion sort
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// TestPresentNoStaleValue: two nodes publish changes of the same calls,
// and then write every one of them again, in random order, at once, as
// late writers would: the bucket is left with each call's newest change,
// and a call whose newest change ended is not in it.
func TestPresentNoStaleValue(t *testing.T) {
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", 0)
	b := startNode(t, srv.URL(), "b", 0)
	waitReady(t, a)
	waitReady(t, b)
	sub := subscribe(t, a.hub)
	const changes = 40
	change := func(id string, i int) monitor.Call {
		c := call(id, monitor.Ringing)
		c.To.Number = fmt.Sprint(100 + i)
		return c
	}
	for i := range changes {
		for _, id := range []string{"kept", "ended"} {
			if i%2 == 0 {
				a.pub.Call(change(id, i))
			} else {
				b.pub.Call(change(id, i))
			}
		}
	}
	type stored struct {
		subject string
		seq     uint64
		data    []byte
		present bool
	}
	var all []stored
	newest := map[string]uint64{}
	timeout := time.After(30 * time.Second)
	for len(all) < 2*changes+1 {
		if len(all) == 2*changes {
			// After every other change of it: the newest in the stream.
			b.pub.Call(call("ended", monitor.Ended))
		}
		select {
		case ev := <-sub.Events():
			data, err := monitor.NewEvent(0, ev.At, ev.Payload).JSON()
			if err != nil {
				t.Fatal(err)
			}
			s := stored{subject: cluster.Subject(ev.Payload), seq: ev.Seq, data: data, present: monitor.Present(ev.Payload)}
			all = append(all, s)
			newest[s.subject] = max(newest[s.subject], s.seq)
		case <-timeout:
			t.Fatalf("%d of %d changes", len(all), 2*changes+1)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(all))
	for _, n := range []*node{a, b} {
		order := rand.Perm(len(all))
		for w := range 4 {
			wg.Go(func() {
				for i := w; i < len(order); i += 4 {
					s := all[order[i]]
					if err := n.WritePresent(ctx, s.subject, s.seq, s.data, s.present); err != nil {
						errs <- err
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("write: %v", err)
	}
	waitFor(t, "the publishers' own writes are done", func() (bool, string) {
		qa, qb := a.pub.PresentQueued(), b.pub.PresentQueued()
		return qa == 0 && qb == 0, fmt.Sprintf("a %d, b %d waiting", qa, qb)
	})
	seqs, err := a.PresentSeqs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kept, ended := change("kept", 0), change("ended", 0)
	if got, want := seqs[presentKey(&kept)], newest[cluster.Subject(&kept)]; got != want {
		t.Errorf("kept: the bucket has seq %d, want the newest %d", got, want)
	}
	if got, there := seqs[presentKey(&ended)]; there {
		t.Errorf("ended: still in the bucket at seq %d", got)
	}
}
