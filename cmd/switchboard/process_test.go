package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// switchboardBinary builds the real binary once per test run (with the
// race detector when the tests have it) and returns its path.
func switchboardBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("no go tool to build the binary: %w", err)
			return
		}
		buildDir, buildErr = os.MkdirTemp("", "switchboard-bin-")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "switchboard")
		args := []string{"build", "-o", builtBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command(goTool, append(args, ".")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// process is a running `switchboard serve`, its log collected line by
// line.
type process struct {
	t   *testing.T
	cmd *exec.Cmd
	url string
	// config is the configuration file it was started with.
	config string
	done   chan struct{}
	err    error // Wait's result, set before done closes

	mu     sync.Mutex
	lines  []string
	notify chan struct{} // closed and replaced on every new line
}

// startSwitchboard runs the binary with the configuration text and waits
// until it says where it listens. The process is killed at the end of the
// test if it is still running.
func startSwitchboard(t *testing.T, config string) *process {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &process{t: t, cmd: exec.Command(switchboardBinary(t), "serve", "--config", path), config: path, done: make(chan struct{}), notify: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.notify)
			p.notify = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	go func() {
		<-read // Wait closes the pipe: read it to the end first
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() || os.Getenv("SWITCHBOARD_TEST_LOG") != "" {
			t.Logf("switchboard log:\n%s", p.log())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	line, err := p.waitLog(ctx, "Switchboard is running at ")
	if err != nil {
		t.Fatalf("switchboard did not start: %v\n%s", err, p.log())
	}
	_, p.url, _ = strings.Cut(line, "Switchboard is running at ")
	p.url = strings.TrimSpace(p.url)
	return p
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitLog waits for a log line containing every one of parts and returns
// it.
func (p *process) waitLog(ctx context.Context, parts ...string) (string, error) {
	for {
		p.mu.Lock()
		for _, l := range p.lines {
			if containsAll(l, parts) {
				p.mu.Unlock()
				return l, nil
			}
		}
		next := p.notify
		p.mu.Unlock()
		select {
		case <-next:
		case <-p.done:
			// The last lines may have come with the exit.
			p.mu.Lock()
			for _, l := range p.lines {
				if containsAll(l, parts) {
					p.mu.Unlock()
					return l, nil
				}
			}
			p.mu.Unlock()
			return "", fmt.Errorf("exited (%w) without logging %q", p.err, parts)
		case <-ctx.Done():
			return "", fmt.Errorf("no log line with %q: %w", parts, ctx.Err())
		}
	}
}

func containsAll(s string, parts []string) bool {
	for _, x := range parts {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

func (p *process) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// waitExit waits at most d for the process to exit and returns its exit
// code.
func (p *process) waitExit(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.t.Fatalf("switchboard still running %s after the signal\n%s", d, p.log())
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.t.Fatalf("switchboard killed by %v\n%s", ws.Signal(), p.log())
		}
		return ee.ExitCode()
	default:
		p.t.Fatalf("wait: %v", p.err)
		return -1
	}
}

// signIn signs user in at the server and returns a client holding the
// session cookie.
func signIn(t *testing.T, ctx context.Context, base, user, password string) *http.Client {
	t.Helper()
	c, status := postLogin(t, ctx, base, user, password)
	if status != http.StatusSeeOther {
		t.Fatalf("sign-in as %s: status %d", user, status)
	}
	return c
}

// postLogin fetches the sign-in form (for its form token) and posts
// user's password with it; it returns the client, holding whatever
// cookies the server set, and the answer's status.
func postLogin(t *testing.T, ctx context.Context, base, user, password string) (*http.Client, int) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"login", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loginURL, _ := url.Parse(base + "login")
	var csrf string
	for _, ck := range jar.Cookies(loginURL) {
		if strings.HasPrefix(ck.Name, "switchboard_login_") {
			csrf = ck.Value
		}
	}
	form := url.Values{"csrf": {csrf}, "name": {user}, "password": {password}, "next": {"/"}}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return c, resp.StatusCode
}

// probeUser sends an OPTIONS for sip:user@registrar through the registrar
// and returns the final status: 404 when the user has no binding there,
// the bound agent's answer otherwise (RFC 3261 section 11).
func probeUser(t *testing.T, registrar, user string) int {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raddr, err := net.ResolveUDPAddr("udp4", registrar)
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ := net.SplitHostPort(registrar)
	id := time.Now().UnixNano()
	msg := fmt.Sprintf("OPTIONS sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-probe%d;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:probe@%s>;tag=p%d\r\nTo: <sip:%s@%s>\r\nCall-ID: probe-%d@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		user, host, conn.LocalAddr(), id, host, id, user, host, id)
	if _, err := conn.WriteTo([]byte(msg), raddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("probe %s: %v", user, err)
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		var code int
		if _, err := fmt.Sscanf(line, "SIP/2.0 %d", &code); err == nil && code >= 200 {
			return code
		}
	}
}
