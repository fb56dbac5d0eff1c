package monitor

import (
	"math/rand/v2"
	"time"
)

// Backoff is the wait before reconnect attempt n (0-based): lo·2^n capped
// at hi, then jittered down by up to half so that many Switchboards do not
// hammer a rebooting PBX or router in step.
func Backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	d = max(lo, min(d, hi))
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1) //nolint:gosec // jitter; math/rand/v2 is ChaCha8 seeded by the runtime
}
