package siptest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// EnvE2E is the environment variable that controls real-peer tests:
// "require" makes a missing peer program a test failure (CI sets it),
// "off" skips every real-peer test, anything else skips only when a program
// is missing.
const EnvE2E = "SWITCHBOARD_E2E"

// sbinDirs are searched after PATH: kamailio lives in /usr/sbin, which a
// non-root PATH often lacks.
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin"}

// RequireBinaries skips or fails t (see [EnvE2E]) unless every named program
// is installed, and returns their paths in the same order.
func RequireBinaries(t testing.TB, names ...string) []string {
	t.Helper()
	mode := os.Getenv(EnvE2E)
	if mode == "off" {
		t.Skipf("real-peer test skipped: %s=off", EnvE2E)
	}
	if testing.Short() && mode != "require" {
		t.Skip("real-peer test skipped in -short mode")
	}
	paths := make([]string, 0, len(names))
	var missing []string
	for _, n := range names {
		p, ok := lookBinary(n)
		if !ok {
			missing = append(missing, n)
			continue
		}
		paths = append(paths, p)
	}
	if len(missing) > 0 {
		RequirePeer(t, fmt.Sprint(missing), false)
	}
	return paths
}

// RequirePeer skips t when a real peer (program, package, browser) is
// missing, or fails it when EnvE2E is "require", as `make test` sets it, so
// that CI cannot pass by skipping.
func RequirePeer(t testing.TB, what string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	msg := fmt.Sprintf("real-peer test needs %s, not installed (run: sudo bash testbed/install.sh)", what)
	if os.Getenv(EnvE2E) == "require" {
		t.Fatalf("%s; failing because %s=require", msg, EnvE2E)
	}
	t.Skip(msg)
}

func lookBinary(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// TestbedDir returns the absolute path of the repository's testbed/ folder,
// which holds the peers' configuration templates and sipp scenarios.
func TestbedDir() string {
	_, file, _, ok := runtime.Caller(0)
	if ok {
		d := filepath.Join(filepath.Dir(file), "..", "..", "testbed")
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return filepath.Clean(d)
		}
	}
	// Fall back to walking up from the working directory (go test runs in
	// the package folder) to the module root.
	wd, err := os.Getwd()
	if err != nil {
		return "testbed"
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "testbed")
		}
		if filepath.Dir(d) == d {
			return "testbed"
		}
	}
}
