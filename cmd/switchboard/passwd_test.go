package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"
)

// TestPasswdStdin: off a terminal, passwd reads one line without a
// prompt, prints only the hash on stdout, and warns of a short password
// on stderr.
func TestPasswdStdin(t *testing.T) {
	tests := []struct {
		name, stdin, password string
		warn                  string
	}{
		{"long", "correct horse battery staple\n", "correct horse battery staple", ""},
		{"no newline", "correct horse battery staple", "correct horse battery staple", ""},
		{"CRLF", "correct horse battery staple\r\nsecond line\n", "correct horse battery staple", ""},
		{"short", "hunter2\n", "hunter2", "warning: the password has only 7 characters; short passwords are easy to guess, use 12 or more\n"},
		{"short in letters, long in bytes", "äöüäöüäöüäö\n", "äöüäöüäöüäö", "warning: the password has only 11 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, tt.stdin, "passwd", "--cost", "4")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			hash := strings.TrimSuffix(out, "\n")
			if strings.Contains(hash, "\n") || bcrypt.CompareHashAndPassword([]byte(hash), []byte(tt.password)) != nil {
				t.Fatalf("stdout %q is not the hash of %q", out, tt.password)
			}
			if tt.warn == "" && errOut != "" || !strings.Contains(errOut, tt.warn) {
				t.Errorf("stderr %q, want %q", errOut, tt.warn)
			}
			if strings.Contains(errOut, "password:") {
				t.Errorf("prompted off a terminal: %q", errOut)
			}
		})
	}
}

func TestPasswdErrors(t *testing.T) {
	tests := []struct{ name, stdin, want string }{
		{"nothing", "", "switchboard passwd: no password on stdin (pipe one in, or run passwd on a terminal)\n"},
		{"empty line", "\n", "switchboard passwd: empty password\n"},
		{"too long", strings.Repeat("x", 73) + "\n", "switchboard passwd: the password is 73 bytes long; bcrypt takes at most 72\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, tt.stdin, "passwd", "--cost", "4")
			if code != 1 || out != "" || !strings.HasSuffix(errOut, tt.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errOut, tt.want)
			}
		})
	}
}

// openPTY opens a pseudo-terminal pair: what the test types goes into
// master, the command reads slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open slave: %v", err)
	}
	return m, s
}

// waitNoEcho waits until the terminal's echo is off: the command reads
// the password now, and what is typed from here on must not show.
func waitNoEcho(t *testing.T, tty *os.File) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if st.Lflag&unix.ECHO == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("echo never turned off")
		}
	}
}

// TestPasswdTerminal: on a terminal, passwd prompts (on stderr), twice,
// and the password typed is not shown.
func TestPasswdTerminal(t *testing.T) {
	tests := []struct {
		name, first, second string
		wantErr             string
	}{
		{"same twice", "correct horse battery staple", "correct horse battery staple", ""},
		{"differ", "correct horse battery staple", "correct horse battery stable", "the two passwords differ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			master, slave := openPTY(t)
			out, errOut := newWatchedBuffer(), newWatchedBuffer()
			done := make(chan error, 1)
			go func() {
				done <- runPasswd(context.Background(), stdio{in: slave, out: out, err: errOut}, []string{"--cost", "4"})
			}()
			errOut.waitFor(t, "password: ", 1)
			waitNoEcho(t, slave)
			if _, err := io.WriteString(master, tt.first+"\n"); err != nil {
				t.Fatal(err)
			}
			errOut.waitFor(t, "the same again: ", 1)
			waitNoEcho(t, slave)
			if _, err := io.WriteString(master, tt.second+"\n"); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("passwd did not return")
			}
			slave.Close()
			// What the terminal showed: with echo off, nothing of what was
			// typed (the prompts went to stderr).
			shown, rerr := io.ReadAll(master)
			if rerr != nil && !errors.Is(rerr, syscall.EIO) {
				t.Fatal(rerr)
			}
			if strings.Contains(string(shown), "horse") {
				t.Errorf("the terminal showed the password: %q", shown)
			}
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || out.String() != "" {
					t.Fatalf("err %v, stdout %q; want %q", err, out.String(), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			hash := strings.TrimSpace(out.String())
			if bcrypt.CompareHashAndPassword([]byte(hash), []byte(tt.first)) != nil {
				t.Fatalf("stdout %q is not the hash", out.String())
			}
			if got := errOut.String(); got != "password: \nthe same again: \n" {
				t.Errorf("stderr %q", got)
			}
		})
	}
}
