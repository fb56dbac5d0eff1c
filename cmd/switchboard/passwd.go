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

	"golang.org/x/crypto/bcrypt"
)

func init() {
	register(command{name: "passwd", summary: "read a password on stdin and print its bcrypt hash for users[].password_hash", run: runPasswd})
}

func runPasswd(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("passwd", flag.ContinueOnError)
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		fmt.Fprint(os.Stderr, "password: ")
	}
	hash, err := hashPassword(os.Stdin, *cost)
	if err != nil {
		return err
	}
	fmt.Println(hash)
	return nil
}

// hashPassword reads one line and returns its bcrypt hash.
func hashPassword(r io.Reader, cost int) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("empty password")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}
