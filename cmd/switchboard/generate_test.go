package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestTemplGeneratedUpToDate fails when a committed _templ.go file is not
// what `go tool templ generate` makes of its .templ source.
func TestTemplGeneratedUpToDate(t *testing.T) {
	root := filepath.Join("..", "..")
	sources, err := filepath.Glob(filepath.Join(root, "web", "*.templ"))
	if err != nil || len(sources) == 0 {
		t.Fatalf("no .templ files found (%v)", err)
	}
	for _, src := range sources {
		t.Run(filepath.Base(src), func(t *testing.T) {
			cmd := exec.Command("go", "tool", "templ", "generate", "-f", filepath.Base(src), "-stdout")
			cmd.Dir = filepath.Dir(src)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			want, err := cmd.Output()
			if err != nil {
				t.Fatalf("templ generate: %v\n%s", err, stderr.String())
			}
			got, err := os.ReadFile(src[:len(src)-len(".templ")] + "_templ.go")
			if err != nil {
				t.Fatalf("generated file missing: %v (run `go tool templ generate`)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s_templ.go is stale: run `go tool templ generate`", filepath.Base(src[:len(src)-len(".templ")]))
			}
		})
	}
}
