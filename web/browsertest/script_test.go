package browsertest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// stepsScript is testdata/steps.js as Start finds it from testbed/e2e.
const stepsScript = "../../web/browsertest/testdata/steps.js"

// needNode skips or fails t without node (see siptest.RequireBinaries):
// the runner's own test needs no browser.
func needNode(t *testing.T) {
	t.Helper()
	siptest.RequireBinaries(t, "node")
}

// start runs testdata/steps.js without Require's browser check.
func start(ctx context.Context, t testing.TB, opt Options, mode string) *Script {
	t.Helper()
	dir, err := scriptDir()
	if err != nil {
		t.Fatal(err)
	}
	return startIn(ctx, t, dir, opt, stepsScript, mode)
}

func TestScriptPasses(t *testing.T) {
	needNode(t)
	for _, ack := range []bool{true, false} {
		t.Run(fmt.Sprintf("ack=%v", ack), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			s := start(ctx, t, Options{Ack: ack}, "pass")
			var v struct {
				N    int
				Text string
			}
			s.NextInto(ctx, t, "one", &v)
			if v.N != 1 || v.Text != "first" {
				t.Errorf("step one %+v", v)
			}
			if ack {
				s.Ack(t)
			}
			if arg := s.Next(ctx, t, "two"); arg != nil {
				t.Errorf("step two has %s, want no argument", arg)
			}
			if ack {
				s.Ack(t)
			}
			s.Finish(t)
			if got := s.Lines("NOTE "); !slices.Equal(got, []string{"before", "after"}) {
				t.Errorf("NOTE lines %q", got)
			}
		})
	}
}

// recorder is a testing.TB that keeps failures instead of failing: Fatal
// ends its goroutine, as testing's does.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed []string
}

func (r *recorder) Helper() {}

func (r *recorder) Logf(string, ...any) {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

// run runs f on a goroutine of its own, so that a Fatal ends only it,
// and returns the failures.
func (r *recorder) run(f func()) []string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.failed)
}

// TestScriptFails: each way a script can go wrong fails the test, with
// the script's stderr and the report in the message.
func TestScriptFails(t *testing.T) {
	needNode(t)
	for _, tc := range []struct {
		name, mode string
		steps      []string
		want       []string // in the one failure message
	}{
		{"exit status", "fail", []string{"one", "two"}, []string{"exit status 3", "the page said no", "server log"}},
		{"ended early", "early", []string{"one", "two"}, []string{"ended before step two", "exit status 2", "gave up early", "server log"}},
		{"another step", "pass", []string{"one", "three"}, []string{"step two, want three", "server log"}},
		{"a step more", "extra", []string{"one", "two"}, []string{"step three after the last one"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			r := &recorder{TB: t}
			failed := r.run(func() {
				s := start(ctx, r, Options{Ack: true, Report: func() string { return "server log" }}, tc.mode)
				for _, step := range tc.steps {
					s.Next(ctx, r, step)
					s.Ack(r)
				}
				s.Finish(r)
			})
			if len(failed) != 1 {
				t.Fatalf("failures %q, want one", failed)
			}
			for _, w := range tc.want {
				if !strings.Contains(failed[0], w) {
					t.Errorf("failure %q lacks %q", failed[0], w)
				}
			}
		})
	}
}

// TestScriptNoStep: a step that does not come fails when ctx ends, and
// the script left running is killed when the test ends.
func TestScriptNoStep(t *testing.T) {
	needNode(t)
	var s *Script
	t.Run("waits", func(t *testing.T) {
		r := &recorder{TB: t}
		failed := r.run(func() {
			s = start(t.Context(), r, Options{Ack: true}, "pass")
			s.Next(t.Context(), r, "one")
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			s.Next(ctx, r, "two") // never acknowledged: never comes
		})
		if len(failed) != 1 || !strings.Contains(failed[0], "no step two: context deadline exceeded") {
			t.Errorf("failures %q", failed)
		}
	})
	if s == nil || s.cmd.ProcessState == nil {
		t.Fatal("the script was not waited for after its test")
	}
	if s.cmd.ProcessState.Success() {
		t.Errorf("the script left running %v, want it killed", s.cmd.ProcessState)
	}
}
