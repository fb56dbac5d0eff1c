package cluster

import (
	"slices"
	"testing"
)

// TestReady: a change goes out only while no earlier change of its
// subject waits or is on its way, at most n at once, in outbox order.
func TestReady(t *testing.T) {
	type m struct {
		subject   string
		state     outState
		cancelled bool
	}
	tests := []struct {
		name    string
		queue   []m
		n, scan int
		want    []int // indexes into queue
	}{
		{"empty", nil, 4, 16, nil},
		{"all of different subjects", []m{{"a", waiting, false}, {"b", waiting, false}, {"c", waiting, false}}, 4, 16, []int{0, 1, 2}},
		{"the window", []m{{"a", waiting, false}, {"b", waiting, false}, {"c", waiting, false}}, 2, 16, []int{0, 1}},
		{"the window is full", []m{{"a", sending, false}, {"b", waiting, false}}, 0, 16, nil},
		{"one of a subject at a time", []m{{"a", waiting, false}, {"a", waiting, false}, {"b", waiting, false}}, 4, 16, []int{0, 2}},
		{"behind one on its way", []m{{"a", sending, false}, {"a", waiting, false}, {"b", waiting, false}}, 4, 16, []int{2}},
		// A failed publish is waiting again: the later change of its
		// subject still waits for it, so the retry cannot be overtaken.
		{"behind a retry", []m{{"b", stored, false}, {"a", waiting, false}, {"a", waiting, false}, {"a", waiting, false}}, 4, 16, []int{1}},
		{"after one stored", []m{{"a", stored, false}, {"a", waiting, false}}, 4, 16, []int{1}},
		{"behind a cancelled one on its way", []m{{"a", sending, true}, {"a", waiting, false}, {"b", waiting, false}}, 4, 16, []int{2}},
		{"the scratch space is cleared", []m{{"z", waiting, false}}, 4, 16, []int{0}},
		{"the scan", []m{{"a", sending, false}, {"a", waiting, false}, {"b", waiting, false}}, 4, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			queue := make([]*outMsg, len(tt.queue))
			for i, q := range tt.queue {
				queue[i] = &outMsg{subject: q.subject, state: q.state, cancelled: q.cancelled}
			}
			before := make([]outState, len(queue))
			for i, q := range queue {
				before[i] = q.state
			}
			got := ready(queue, tt.n, tt.scan, map[string]struct{}{"z": {}})
			var idx []int
			for _, g := range got {
				idx = append(idx, slices.Index(queue, g))
			}
			if !slices.Equal(idx, tt.want) {
				t.Fatalf("ready %v, want %v", idx, tt.want)
			}
			for i, q := range queue {
				want := before[i]
				if slices.Contains(tt.want, i) {
					want = sending
				}
				if q.state != want {
					t.Fatalf("change %d: state %d, want %d", i, q.state, want)
				}
			}
		})
	}
}
