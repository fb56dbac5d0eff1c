package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"
)

func init() {
	register(command{
		name:    "passwd",
		summary: "make the bcrypt hash of a password, for users[].password_hash",
		usage:   []string{"[--cost N]"},
		about: "On a terminal it asks for the password twice, without showing it. Otherwise it reads\n" +
			"one line from stdin, without a prompt: echo -n 'a long secret' | switchboard passwd.\n" +
			"It prints the hash on stdout; put it in the configuration as password_hash.",
		run: runPasswd,
	})
}

// minPasswordLen is the length below which passwd warns: a short
// password falls to guessing however well it is hashed.
const minPasswordLen = 12

// maxPasswordBytes is the most bcrypt takes.
const maxPasswordBytes = 72

func runPasswd(ctx context.Context, sio stdio, args []string) error {
	fs := flag.NewFlagSet("passwd", flag.ContinueOnError)
	cost := fs.Int("cost", bcrypt.DefaultCost, "the bcrypt cost `N`: each step doubles the work of hashing, and of guessing")
	if err := parseFlags(fs, args, sio); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("the password is read from the terminal or stdin, not from the command line (where the shell history and the process list would keep it)")
	}
	if *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost {
		return usagef("--cost %d: want %d to %d", *cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	var (
		pw  string
		err error
	)
	if f, ok := sio.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		pw, err = promptPassword(ctx, int(f.Fd()), sio.err)
	} else {
		pw, err = readPasswordLine(sio.in)
	}
	if err != nil {
		return err
	}
	if n := utf8.RuneCountInString(pw); n < minPasswordLen {
		fmt.Fprintf(sio.err, "warning: the password has only %d characters; short passwords are easy to guess, use %d or more\n", n, minPasswordLen)
	}
	h, err := hashPassword(pw, *cost)
	if err != nil {
		return err
	}
	fmt.Fprintln(sio.out, h)
	return nil
}

// promptPassword asks for the password twice on the terminal fd, without
// echo, the prompts on w. When ctx ends first (Ctrl-C), the terminal's
// echo is turned back on and the prompt given up.
func promptPassword(ctx context.Context, fd int, w io.Writer) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	type answer struct {
		pw  string
		err error
	}
	done := make(chan answer, 1)
	// A read from a terminal cannot be interrupted: on Ctrl-C this
	// goroutine is left blocked to the end of the process, which is only
	// moments away, and the terminal is put right here.
	go func() {
		pw, err := askTwice(fd, w)
		done <- answer{pw, err}
	}()
	select {
	case a := <-done:
		return a.pw, a.err
	case <-ctx.Done():
		_ = term.Restore(fd, state)
		fmt.Fprintln(w)
		return "", fmt.Errorf("no password: %w", context.Cause(ctx))
	}
}

func askTwice(fd int, w io.Writer) (string, error) {
	read := func(prompt string) (string, error) {
		fmt.Fprint(w, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(w) // the Enter the terminal did not echo
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	pw, err := read("password: ")
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", errors.New("empty password")
	}
	again, err := read("the same again: ")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errors.New("the two passwords differ")
	}
	return pw, nil
}

// readPasswordLine reads the password from the first line of r, without
// its line ending.
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		if errors.Is(err, io.EOF) && line == "" {
			return "", errors.New("no password on stdin (pipe one in, or run passwd on a terminal)")
		}
		return "", errors.New("empty password")
	}
	return pw, nil
}

// hashPassword returns the bcrypt hash of pw.
func hashPassword(pw string, cost int) (string, error) {
	if len(pw) > maxPasswordBytes {
		return "", fmt.Errorf("the password is %d bytes long; bcrypt takes at most %d", len(pw), maxPasswordBytes)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}
