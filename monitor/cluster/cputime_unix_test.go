//go:build unix

package cluster_test

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used, on every core: the
// NATS server, every node, the stand-in and the subscribers alike.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
