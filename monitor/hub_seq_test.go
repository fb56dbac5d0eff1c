package monitor

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// TestHubPublishSeq: a hub fed from a numbered stream keeps the stream's
// numbers, skipped ones included, and resumes a subscriber by them: from
// behind (the events after), from ahead (the events up to it skipped),
// and not from before a gap or the ring (a snapshot).
func TestHubPublishSeq(t *testing.T) {
	h := NewHub(HubConfig{RingSize: 4}, WithEpoch("stream-1"))
	defer h.Close()
	if h.Epoch() != "stream-1" {
		t.Fatalf("epoch %q", h.Epoch())
	}
	// The present of a stream read at start, up to 20, then every change.
	for _, seq := range []uint64{3, 9} {
		if err := h.PublishSeq(seq, t0, ptr(call(fmt.Sprintf("s:%d", seq), Ringing))); err != nil {
			t.Fatal(err)
		}
	}
	h.Gap(20)
	for _, seq := range []uint64{21, 22, 24} { // 23: a change this hub never gets
		if err := h.PublishSeq(seq, t0, ptr(call(fmt.Sprintf("s:%d", seq), Ringing))); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.PublishSeq(24, t0, ptr(call("again", Ringing))); !errors.Is(err, ErrStaleSeq) {
		t.Fatalf("a seq published twice: %v, want ErrStaleSeq", err)
	}
	if snap := h.Snapshot(); snap.Seq != 24 || len(snap.Calls()) != 5 {
		t.Fatalf("snapshot seq %d with %d calls, want 24 and 5", snap.Seq, len(snap.Calls()))
	}
	for _, tc := range []struct {
		name     string
		resume   *Resume
		snapshot bool
		missed   []uint64
		next     uint64 // the seq of the next event delivered
	}{
		{"none", nil, true, nil, 25},
		{"other epoch", &Resume{Epoch: "stream-0", Since: 22}, true, nil, 25},
		{"before the gap", &Resume{Epoch: "stream-1", Since: 9}, true, nil, 25},
		{"at the gap", &Resume{Epoch: "stream-1", Since: 20}, false, []uint64{21, 22, 24}, 25},
		{"over the skipped", &Resume{Epoch: "stream-1", Since: 22}, false, []uint64{24}, 25},
		{"up to date", &Resume{Epoch: "stream-1", Since: 24}, false, []uint64{}, 25},
		{"ahead", &Resume{Epoch: "stream-1", Since: 25}, false, []uint64{}, 26},
		{"far ahead", &Resume{Epoch: "stream-1", Since: 99}, true, nil, 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub, err := h.Subscribe(tc.resume)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if (sub.Snapshot != nil) != tc.snapshot {
				t.Fatalf("snapshot %v, want %v", sub.Snapshot != nil, tc.snapshot)
			}
			var missed []uint64
			for _, ev := range sub.Missed {
				missed = append(missed, ev.Seq)
			}
			if !tc.snapshot && !slices.Equal(missed, tc.missed) || tc.snapshot && sub.Missed != nil {
				t.Fatalf("missed %v, want %v", missed, tc.missed)
			}
		})
	}
	// Delivery: a subscriber ahead of the hub gets only what is newer.
	ahead, _ := h.Subscribe(&Resume{Epoch: "stream-1", Since: 25})
	defer ahead.Close()
	for _, seq := range []uint64{25, 26} {
		if err := h.PublishSeq(seq, t0, ptr(call(fmt.Sprintf("s:%d", seq), Ringing))); err != nil {
			t.Fatal(err)
		}
	}
	if ev := recv(t, ahead); ev.Seq != 26 {
		t.Fatalf("ahead got %d first, want 26", ev.Seq)
	}
	// The ring (4) holds 22, 24, 25, 26 and dropped 21: a resume from 20
	// gets a snapshot, one from 21 the rest.
	h.Gap(0) // no effect
	if sub, _ := h.Subscribe(&Resume{Epoch: "stream-1", Since: 20}); sub.Snapshot == nil {
		t.Fatalf("a resume from before the ring: missed %v", sub.Missed)
	} else {
		sub.Close()
	}
	if sub, _ := h.Subscribe(&Resume{Epoch: "stream-1", Since: 21}); sub.Snapshot != nil || len(sub.Missed) != 4 {
		t.Fatalf("a resume from the ring's edge: %+v", sub.Missed)
	} else {
		sub.Close()
	}
}

func ptr[T any](v T) *T { return &v }
