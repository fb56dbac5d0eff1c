package web

import (
	"testing"
	"time"
)

func TestSharedWait(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	at := func(secs ...float64) []time.Time {
		var out []time.Time
		for _, s := range secs {
			out = append(out, t0.Add(time.Duration(s*float64(time.Second))))
		}
		return out
	}
	tests := []struct {
		name  string
		fails []time.Time
		now   time.Time
		want  time.Duration
	}{
		{"none", nil, t0, 0},
		{"four at once leave one try", at(0, 0, 0, 0), t0, 0},
		{"five at once: wait for one refill", at(0, 0, 0, 0, 0), t0, loginRefill},
		{"five at once, 5 s later", at(0, 0, 0, 0, 0), t0.Add(5 * time.Second), 15 * time.Second},
		{"five at once, one refill later", at(0, 0, 0, 0, 0), t0.Add(loginRefill), 0},
		{"five spread by a refill each never empty it", at(0, 20, 40, 60, 80), t0.Add(80 * time.Second), 0},
		{"seven quick ones: still one refill, tokens stop at zero", at(0, 1, 2, 3, 4, 5, 6), t0.Add(6 * time.Second), loginRefill},
		{"nearly refilled: at least the minimum wait", at(0, 0, 0, 0, 0), t0.Add(loginRefill - time.Millisecond), loginRetryMin},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sharedWait(tc.fails, tc.now); got != tc.want {
				t.Fatalf("sharedWait = %s, want %s", got, tc.want)
			}
		})
	}
}
