package history

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

// crashChildEnv names the database a re-executed test binary saves into
// before its parent kills it.
const crashChildEnv = "HISTORY_CRASH_CHILD_DB"

// crashChildDSNEnv, when set, is the PostgreSQL database the child saves
// into instead (the path then places its spool).
const crashChildDSNEnv = "HISTORY_CRASH_CHILD_DSN"

const crashCalls = 25

// TestCrashChild is the child half of TestKilledProcessLosesNoSavedCall:
// it saves calls, reports each once Save has returned, then waits to be
// killed. Run directly, it does nothing.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("child of TestKilledProcessLosesNoSavedCall")
	}
	var s *Store
	var err error
	if dsn := os.Getenv(crashChildDSNEnv); dsn != "" {
		s, err = OpenPostgres(context.Background(), dsn, SpoolPath(path))
	} else {
		s, err = Open(context.Background(), path)
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := range crashCalls {
		if err := s.Save(context.Background(), ended("home", fmt.Sprint(i), i, monitor.Inbound, i%2 == 0, "0301", "1234567")); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("saved", i)
	}
	// Never closes the store: the parent kills the process here.
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(3)
}

// TestKilledProcessLosesNoSavedCall kills (SIGKILL) a process right after
// its last Save returned and checks every call it saved is there.
func TestKilledProcessLosesNoSavedCall(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			path := place(t, be)
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
			if dsn, ok := pgPlaces.Load(path); ok {
				cmd.Env = append(cmd.Env, crashChildDSNEnv+"="+dsn.(string))
			}
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			last := fmt.Sprint("saved ", crashCalls-1)
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, "error") {
					t.Fatalf("child: %s", line)
				}
				if line == last {
					break
				}
			}
			// SIGKILL: no deferred function, no Close, no flush gets to run.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			go io.Copy(io.Discard, out) //nolint:errcheck // drain until the pipe closes
			state, _ := cmd.Process.Wait()
			if state == nil || state.Success() || state.ExitCode() == 3 {
				t.Fatalf("child was not killed: %v", state)
			}
			if sc.Err() != nil {
				t.Fatal(sc.Err())
			}
			s := open(t, path)
			p, err := s.Query(context.Background(), Filter{Limit: MaxLimit})
			if err != nil {
				t.Fatal(err)
			}
			if p.Total != crashCalls {
				t.Fatalf("%d calls after the kill, want %d", p.Total, crashCalls)
			}
			answered, _ := s.Query(context.Background(), Filter{Outcome: OutcomeAnswered})
			if answered.Total != (crashCalls+1)/2 {
				t.Errorf("%d answered calls, want %d", answered.Total, (crashCalls+1)/2)
			}
		})
	}
}
