package monitor

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection keeps the call model free of the layers above it
// (DESIGN.md: cmd → web → gateway → sipbridge → monitor).
func TestDependencyDirection(t *testing.T) {
	forbidden := []string{"net/http", "github.com/emiago/", "github.com/pion/", "github.com/switchboard/switchboard/web", "github.com/switchboard/switchboard/gateway", "github.com/switchboard/switchboard/sipbridge"}
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("monitor depends on %s", dep)
			}
		}
	}
}
