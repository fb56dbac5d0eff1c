package browsertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options are a script's per-run settings; the zero value runs it with
// the test's environment and stdin closed.
type Options struct {
	// Env is added to the test's environment ("FAKE_AUDIO_WAV=…").
	Env []string
	// Ack gives the script a stdin that stays open: a script built on
	// phonelib.js then waits after each step until [Script.Ack]. Without
	// it the script's stdin is closed and it goes on by itself.
	Ack bool
	// Report, when set, is added to every failure message, after the
	// script's stderr: the server's log, say.
	Report func() string
}

// Script is a browser script started by [Start]. Its steps are taken in
// order by one goroutine, the test's, with [Script.Next]; [Script.Finish]
// waits for the script to pass. A script still running when the test
// ends is killed.
type Script struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser // nil without Options.Ack
	report func() string
	lines  chan string   // STEP lines, "STEP " cut; closed at the end of stdout
	stop   chan struct{} // closed at cleanup: the reader sends no more
	wg     sync.WaitGroup

	mu      sync.Mutex
	errOut  strings.Builder // what the script wrote to stderr
	other   []string        // stdout lines that are not steps
	scanErr error           // why stdout could not be read to its end

	steps   []string // the steps taken so far
	exited  bool
	exitErr error
}

// maxLine is the longest line a script may print: the layout steps carry
// measurements of every element at several sizes.
const maxLine = 4 << 20

// waitDelay bounds how long Wait waits for stdout and stderr after the
// script exited (a browser it left behind may hold them open).
const waitDelay = 10 * time.Second

// Start runs `node script args…` in testbed/e2e (see [Require], which it
// calls first) until ctx ends or the test does.
func Start(ctx context.Context, t testing.TB, opt Options, script string, args ...string) *Script {
	t.Helper()
	return startIn(ctx, t, Require(t), opt, script, args...)
}

// startIn is Start in dir, without Require.
func startIn(ctx context.Context, t testing.TB, dir string, opt Options, script string, args ...string) *Script {
	t.Helper()
	s := &Script{name: script, report: opt.Report, lines: make(chan string), stop: make(chan struct{})}
	s.cmd = exec.CommandContext(ctx, "node", append([]string{script}, args...)...) //nolint:gosec // a test's own script in testbed/e2e and its arguments
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), opt.Env...)
	s.cmd.Stderr = (*stderrWriter)(s)
	s.cmd.WaitDelay = waitDelay
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	if opt.Ack {
		if s.stdin, err = s.cmd.StdinPipe(); err != nil {
			t.Fatalf("%s: %v", script, err)
		}
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	s.wg.Go(func() { s.read(out) })
	t.Cleanup(func() {
		close(s.stop)
		if s.stdin != nil {
			_ = s.stdin.Close()
		}
		if !s.exited {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
		}
		s.wg.Wait()
	})
	return s
}

// read hands the script's steps to Next until stdout ends or the test
// does, and keeps its other lines.
func (s *Script) read(out io.Reader) {
	defer close(s.lines)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		step, ok := strings.CutPrefix(sc.Text(), "STEP ")
		if !ok {
			s.mu.Lock()
			s.other = append(s.other, sc.Text())
			s.mu.Unlock()
			continue
		}
		select {
		case s.lines <- step:
		case <-s.stop:
			return
		}
	}
	if err := sc.Err(); err != nil {
		s.mu.Lock()
		s.scanErr = err
		s.mu.Unlock()
		// The script must not block on a full pipe: the rest is lost,
		// and Next and Finish say why.
		_, _ = io.Copy(io.Discard, out)
	}
}

// Next waits for the script's next step, which must be want, logs it and
// returns its JSON argument (nil for a step without one). It fails t
// when the script takes another step, ends first, or ctx ends first.
func (s *Script) Next(ctx context.Context, t testing.TB, want string) json.RawMessage {
	t.Helper()
	select {
	case line, open := <-s.lines:
		if !open {
			t.Fatalf("%s ended before step %s (after steps %v): %v%s", s.name, want, s.steps, s.wait(), s.failure())
		}
		name, arg, _ := strings.Cut(line, " ")
		s.steps = append(s.steps, name)
		t.Logf("step %s %s", name, arg)
		if name != want {
			t.Fatalf("%s: step %s, want %s (after steps %v)%s", s.name, name, want, s.steps[:len(s.steps)-1], s.failure())
		}
		if arg == "" {
			return nil
		}
		return json.RawMessage(arg)
	case <-ctx.Done():
		t.Fatalf("%s: no step %s: %v (after steps %v)%s", s.name, want, ctx.Err(), s.steps, s.failure())
	}
	return nil
}

// NextInto is [Script.Next] that decodes the step's argument into v; a
// step without one leaves v as it is.
func (s *Script) NextInto(ctx context.Context, t testing.TB, want string, v any) {
	t.Helper()
	arg := s.Next(ctx, t, want)
	if arg == nil {
		return
	}
	if err := json.Unmarshal(arg, v); err != nil {
		t.Fatalf("%s: step %s %s: %v%s", s.name, want, arg, err, s.failure())
	}
}

// Ack lets a script started with Options.Ack go on from its step: the
// test has played its part.
func (s *Script) Ack(t testing.TB) {
	t.Helper()
	if s.stdin == nil {
		t.Fatalf("%s: Ack without Options.Ack", s.name)
	}
	if _, err := io.WriteString(s.stdin, "\n"); err != nil {
		t.Fatalf("%s: ack after steps %v: %v%s", s.name, s.steps, err, s.failure())
	}
}

// Finish closes the script's stdin, fails t for every step it takes
// after the last one Next took, and waits for it to exit: it must pass.
func (s *Script) Finish(t testing.TB) {
	t.Helper()
	if s.stdin != nil {
		_ = s.stdin.Close()
	}
	for line := range s.lines {
		name, _, _ := strings.Cut(line, " ")
		t.Errorf("%s: step %s after the last one (%v)", s.name, name, s.steps)
	}
	if err := s.wait(); err != nil {
		t.Fatalf("%s: %v after steps %v%s", s.name, err, s.steps, s.failure())
	}
}

// Lines returns the lines the script printed so far that are not steps
// and start with prefix, prefix cut ("TIMES {json}" → "{json}"). After
// Finish these are all of them.
func (s *Script) Lines(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var got []string
	for _, l := range s.other {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			got = append(got, v)
		}
	}
	return got
}

// Stderr is what the script wrote to stderr so far.
func (s *Script) Stderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errOut.String()
}

// wait waits for the script to exit, once the reader has read stdout to
// its end, and returns why it failed: its exit status, or that stdout
// could not be read.
func (s *Script) wait() error {
	if !s.exited {
		s.exitErr = s.cmd.Wait()
		s.exited = true
	}
	s.mu.Lock()
	scanErr := s.scanErr
	s.mu.Unlock()
	if s.exitErr == nil && scanErr != nil {
		return fmt.Errorf("reading its output: %w", scanErr)
	}
	return s.exitErr
}

// failure is what every failure message ends with: the script's stderr
// and Options.Report.
func (s *Script) failure() string {
	msg := "\n" + s.Stderr()
	if s.report != nil {
		msg += "\n" + s.report()
	}
	return msg
}

// stderrWriter is the script's stderr, kept under the script's lock: the
// test reads it while the script runs.
type stderrWriter Script

func (w *stderrWriter) Write(p []byte) (int, error) {
	s := (*Script)(w)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errOut.Write(p)
}
