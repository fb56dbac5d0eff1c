// Package browsertest runs the browser scripts of testbed/e2e for tests:
// Node with playwright-core drives Debian's Chromium through Switchboard's
// pages, prints a line "STEP name [json]" at each milestone, and, when the
// test plays a part between steps, waits for a line on stdin to go on.
// It is for tests only: [Require] skips or fails a test that cannot run
// a browser, [Start] runs a script, [Script.Next] takes its steps in
// order.
package browsertest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// Chromium is the browser the scripts launch (testbed/e2e/chromium.js):
// Debian's, never a download of playwright's own.
const Chromium = "/usr/bin/chromium"

// Require skips t in -short mode and with SWITCHBOARD_E2E=off, and skips
// or fails it (see [siptest.RequirePeer]) without node, [Chromium] or
// testbed/e2e's playwright-core (installed by `npm ci` there). It returns
// the absolute path of testbed/e2e.
func Require(t testing.TB) string {
	t.Helper()
	if testing.Short() || os.Getenv(siptest.EnvE2E) == "off" {
		t.Skip("browser test")
	}
	dir, errDir := scriptDir()
	_, errNode := exec.LookPath("node")
	_, errChromium := os.Stat(Chromium)
	errPW := errDir
	if errPW == nil {
		_, errPW = os.Stat(filepath.Join(dir, "node_modules", "playwright-core"))
	}
	siptest.RequirePeer(t, "node, "+Chromium+" and playwright-core", errNode == nil && errChromium == nil && errPW == nil)
	return dir
}

// errNoModule says the working directory is in no Go module: go test runs
// a test in its package's folder, inside the repository.
var errNoModule = errors.New("no go.mod above the working directory")

// scriptDir finds testbed/e2e from the working directory, which go test
// sets to the calling test's package folder: up to the module root
// (go.mod), then down.
func scriptDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "testbed", "e2e"), nil
		}
		if filepath.Dir(d) == d {
			return "", errNoModule
		}
	}
}
