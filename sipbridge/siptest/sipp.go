package siptest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sippRecvTimeout bounds every <recv> of a scenario (sipp
// -recv_timeout), so a scenario that waits for a message that never comes
// fails instead of hanging the test.
const sippRecvTimeout = 20 * time.Second

// ScenarioPath resolves a scenario name: a bare file name ("uas-busy.xml")
// is looked up in the testbed's sipp/ folder; anything with a path
// separator is used as given.
func ScenarioPath(scenario string) string {
	if strings.ContainsRune(scenario, filepath.Separator) {
		return scenario
	}
	return filepath.Join(TestbedDir(), "sipp", scenario)
}

// Sipp is one sipp run owned by a test.
type Sipp struct {
	name  string
	port  int
	args  []string
	proc  *process
	udp   bool
	start time.Time
}

// StartSipp starts sipp with scenario (see [ScenarioPath]) in the
// background and returns once its SIP socket is bound. The harness adds
// -sf, -nostdin, -i 127.0.0.1, -mi 127.0.0.1 and, unless args set them,
// -p (a free port), -mp (a free media port), -m 1, -t u1, and a
// -recv_timeout; args carry the rest: the remote "host:port" for a
// client, -s, -au, -ap, -key, -d (the length of <pause/>, in ms). The run
// is stopped in t.Cleanup and its output logged if t failed.
func StartSipp(t testing.TB, scenario string, args ...string) *Sipp {
	t.Helper()
	return StartSippIn(t, "", scenario, args...)
}

// StartSippIn is [StartSipp] with sipp's working directory dir, where a
// scenario finds the files it names (rtp_stream audio); "" means a new
// temp dir of t.
func StartSippIn(t testing.TB, dir, scenario string, args ...string) *Sipp {
	t.Helper()
	s, err := startSipp(t, dir, scenario, args...)
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := s.waitBound(ctx); err != nil {
		t.Fatalf("siptest: %v\n%s", err, s.proc.logTail(4000))
	}
	return s
}

// RunSipp runs sipp like [StartSipp] and waits for it to finish. It
// returns nil when sipp exits 0 (every call of the scenario passed), else
// an error with the exit status and the tail of sipp's output. ctx ending
// kills sipp.
func RunSipp(ctx context.Context, t testing.TB, scenario string, args ...string) error {
	t.Helper()
	s, err := startSipp(t, "", scenario, args...)
	if err != nil {
		return err
	}
	return s.Wait(ctx)
}

func startSipp(t testing.TB, dir, scenario string, args ...string) (*Sipp, error) {
	t.Helper()
	bin := RequireBinaries(t, "sipp")[0]
	path := ScenarioPath(scenario)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sipp scenario: %w", err)
	}
	s := &Sipp{name: filepath.Base(path), udp: true}
	full := []string{"-sf", path, "-nostdin", "-i", "127.0.0.1", "-mi", "127.0.0.1"}
	if i := slices.Index(args, "-p"); i >= 0 && i+1 < len(args) {
		p, err := strconv.Atoi(args[i+1])
		if err != nil {
			return nil, fmt.Errorf("sipp -p %q: %w", args[i+1], err)
		}
		s.port = p
	} else {
		s.port = FreePort(t)
		full = append(full, "-p", strconv.Itoa(s.port))
	}
	if !slices.Contains(args, "-mp") {
		// sipp's default media port is a fixed 6000: parallel runs would
		// announce the same one.
		full = append(full, "-mp", strconv.Itoa(FreePorts(t, 4)))
	}
	if !slices.Contains(args, "-m") {
		full = append(full, "-m", "1")
	}
	if i := slices.Index(args, "-t"); i >= 0 && i+1 < len(args) {
		s.udp = strings.HasPrefix(args[i+1], "u")
	} else {
		full = append(full, "-t", "u1")
	}
	if !slices.Contains(args, "-recv_timeout") {
		full = append(full, "-recv_timeout", strconv.Itoa(int(sippRecvTimeout/time.Millisecond)))
	}
	s.args = append(full, args...)
	if dir == "" {
		dir = t.TempDir()
	}
	log := filepath.Join(dir, "sipp-"+strings.TrimSuffix(s.name, ".xml")+".log")
	appendLog(log, "sipp "+strings.Join(s.args, " ")+"\n")
	p, err := startProcess("sipp "+s.name, dir, log, bin, s.args...)
	if err != nil {
		return nil, err
	}
	s.proc = p
	s.start = time.Now()
	t.Cleanup(func() {
		p.dumpOnFailure(t)
		p.stop(stopGrace)
	})
	return s, nil
}

// Port returns the local SIP port sipp uses (its -p).
func (s *Sipp) Port() int { return s.port }

// Addr returns sipp's SIP address, "127.0.0.1:port".
func (s *Sipp) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// LogPath returns the file that holds sipp's output.
func (s *Sipp) LogPath() string { return s.proc.logPath }

// Wait waits for sipp to exit and returns nil for exit status 0 (every
// call passed), else an error with the status and sipp's output. ctx
// ending kills sipp.
func (s *Sipp) Wait(ctx context.Context) error {
	select {
	case <-s.proc.done:
	case <-ctx.Done():
		s.proc.stop(stopGrace)
		return fmt.Errorf("sipp %s: %w\n%s", s.name, ctx.Err(), s.proc.logTail(3000))
	}
	if err := s.proc.err; err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("sipp %s: %w: exit status %d\n%s", s.name, ErrScenarioFailed, ee.ExitCode(), s.proc.logTail(3000))
		}
		return fmt.Errorf("sipp %s: %w", s.name, err)
	}
	return nil
}

// Stop ends sipp (SIGTERM, then SIGKILL) and waits for it.
func (s *Sipp) Stop() { s.proc.stop(stopGrace) }

// waitBound waits until sipp's SIP socket shows up in the kernel's socket
// table (/proc/net/udp or tcp): probing by binding the port ourselves
// could take it away from sipp.
func (s *Sipp) waitBound(ctx context.Context) error {
	table := "/proc/net/tcp"
	if s.udp {
		table = "/proc/net/udp"
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		bound, err := portInTable(table, s.port)
		if err != nil {
			return fmt.Errorf("sipp %s: %w", s.name, err)
		}
		if bound {
			return nil
		}
		if s.proc.exited() {
			return fmt.Errorf("sipp %s: %w before binding port %d: %w", s.name, ErrExited, s.port, s.proc.err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sipp %s: %w: port %d: %w", s.name, ErrNotReady, s.port, ctx.Err())
		case <-tick.C:
		}
	}
}

// portInTable reports whether 127.0.0.1:port has a socket in a
// /proc/net/{udp,tcp} table (for TCP, in state LISTEN).
func portInTable(table string, port int) (bool, error) {
	f, err := os.Open(table)
	if err != nil {
		return false, fmt.Errorf("socket table: %w", err)
	}
	defer f.Close()
	want := fmt.Sprintf("0100007F:%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "  sl  local_address rem_address   st ..."
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[1] != want {
			continue
		}
		if strings.HasSuffix(table, "tcp") && fields[3] != "0A" { // TCP_LISTEN
			continue
		}
		return true, nil
	}
	return false, sc.Err()
}

// SippUASOptions configures StartSippUAS.
type SippUASOptions struct {
	// Registrar is the registrar's "host:port"; required.
	Registrar string
	// User is the SIP user the UAS registers as; required.
	User string
	// Password is the digest password; empty means [Password](User).
	Password string
	// Status is the final answer: 200 (default), 486 busy or 603 decline.
	Status int
	// Delay is how long the UAS rings (after 180) before answering.
	Delay time.Duration
	// Calls is how many calls it handles before exiting; 0 means 1.
	Calls int
	// Transport is "udp" (default) or "tcp".
	Transport string
	// Scenario, if set, is the UAS scenario run instead of the one Status
	// picks (see [ScenarioPath]); Args are added to its command line.
	Scenario string
	Args     []string
}

// StartSippUAS registers opts.User at the registrar with sipp
// (register.xml) and then starts a sipp UAS on the same port that answers
// incoming calls with opts.Status after opts.Delay (uas-answer.xml,
// uas-busy.xml, uas-decline.xml), or runs opts.Scenario. It returns once the UAS listens; [Sipp.Wait]
// reports whether every call went through the scenario.
func StartSippUAS(ctx context.Context, t testing.TB, opts SippUASOptions) *Sipp {
	t.Helper()
	scenario := map[int]string{0: "uas-answer.xml", 200: "uas-answer.xml", 486: "uas-busy.xml", 603: "uas-decline.xml"}[opts.Status]
	if opts.Scenario != "" {
		scenario = opts.Scenario
	}
	if scenario == "" {
		t.Fatalf("siptest: StartSippUAS: status %d has no scenario (200, 486, 603)", opts.Status)
	}
	if opts.Registrar == "" || opts.User == "" {
		t.Fatalf("siptest: StartSippUAS: Registrar and User are required")
	}
	if opts.Password == "" {
		opts.Password = Password(opts.User)
	}
	if opts.Calls == 0 {
		opts.Calls = 1
	}
	tr := "u1"
	if opts.Transport == "tcp" {
		tr = "t1"
	}
	port := strconv.Itoa(FreePort(t))
	if err := RunSipp(ctx, t, "register.xml", opts.Registrar, "-p", port, "-t", tr,
		"-s", opts.User, "-au", opts.User, "-ap", opts.Password); err != nil {
		t.Fatalf("siptest: register sipp UAS %s: %v", opts.User, err)
	}
	args := append([]string{"-p", port, "-t", tr, "-m", strconv.Itoa(opts.Calls),
		"-d", strconv.Itoa(int(opts.Delay / time.Millisecond))}, opts.Args...)
	return StartSipp(t, scenario, args...)
}
