//go:build unix

package ami

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used, on every core: the
// benchmarks divide by it to give events per core-second, which a
// machine shared with other work does not distort as it does wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
