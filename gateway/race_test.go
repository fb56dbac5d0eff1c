//go:build race

package gateway

// raceEnabled: under the race detector sync.Pool drops a quarter of what
// is put back, on purpose, so pion's packet pools allocate now and then
// and allocation counts through pion mean nothing; `make allocs` runs
// those tests without it.
const raceEnabled = true
