package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/ami"
	"github.com/switchboard/switchboard/monitor/esl"
)

func init() {
	register(command{
		name:    "record",
		summary: "record every raw event of an Asterisk (AMI) or FreeSWITCH (event socket) as JSON lines",
		usage: []string{
			"--ami ADDR --user USER --secret-file FILE [--md5] OUT.jsonl",
			"--esl ADDR [--password-file FILE] OUT.jsonl",
		},
		about: "OUT is appended to (- for stdout) until Ctrl-C or until the PBX closes the link.\n" +
			"`switchboard replay --source ami|esl OUT.jsonl` plays the recording back.",
		run: runRecord,
	})
}

func runRecord(ctx context.Context, sio stdio, args []string) error {
	fs := flag.NewFlagSet("record", flag.ContinueOnError)
	addr := fs.String("ami", "", "the Asterisk manager's `address`, host[:5038]")
	user := fs.String("user", "", "the manager user `name`")
	secretFile := fs.String("secret-file", "", "the `file` holding the manager secret")
	md5 := fs.Bool("md5", false, "log in with the MD5 challenge")
	eslAddr := fs.String("esl", "", "the FreeSWITCH event socket's `address`, host[:8021]")
	passwordFile := fs.String("password-file", "", "the `file` holding the event socket password (default: FreeSWITCH's ClueCon)")
	if err := parseFlags(fs, args, sio); err != nil {
		return err
	}
	switch {
	case fs.NArg() != 1:
		return usagef("record needs one OUT file (- for stdout)")
	case *addr == "" && *eslAddr == "":
		return usagef("give --ami ADDR or --esl ADDR")
	case *addr != "" && *eslAddr != "":
		return usagef("give --ami or --esl, not both")
	case *addr != "" && (*user == "" || *secretFile == ""):
		return usagef("--ami needs --user and --secret-file")
	}
	out, closeOut, err := openRecording(fs.Arg(0), sio.out)
	if err != nil {
		return err
	}
	defer closeOut()
	if *eslAddr != "" {
		password := esl.DefaultPassword
		if *passwordFile != "" {
			b, err := os.ReadFile(*passwordFile)
			if err != nil {
				return err
			}
			password = strings.TrimSpace(string(b))
		}
		n, err := esl.Record(ctx, *eslAddr, password, out)
		fmt.Fprintf(sio.err, "recorded %d events\n", n)
		return err
	}
	secret, err := os.ReadFile(*secretFile)
	if err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		*addr = net.JoinHostPort(*addr, "5038")
	}
	n, err := recordAMI(ctx, *addr, ami.Login{Username: *user, Secret: strings.TrimSpace(string(secret)), MD5: *md5}, out)
	fmt.Fprintf(sio.err, "recorded %d events\n", n)
	return err
}

// openRecording opens the file a recording is appended to ("-": stdout).
func openRecording(p string, stdout io.Writer) (io.Writer, func(), error) {
	if p == "-" {
		return stdout, func() {}, nil
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// recordAMI writes every event of one manager connection as one JSON
// object per line until ctx ends or the link drops. The lines are what
// `switchboard replay --source ami` reads.
func recordAMI(ctx context.Context, addr string, login ami.Login, w io.Writer) (int, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("connect %s: %w", addr, err)
	}
	events := make(chan map[string]string, 4096)
	conn, err := ami.Handshake(dctx, nc, login, func(m ami.Message) {
		select {
		case events <- m.Map():
		default:
			nc.Close() // the disk cannot keep up: stop rather than lose events silently
		}
	})
	if err != nil {
		nc.Close()
		return 0, err
	}
	defer conn.Close()
	return monitor.RecordJSONLines(ctx, events, conn.Done(), conn.Err, w)
}
