package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"
)

// run runs the command line args in the process and returns its exit
// status and output.
func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runMain(context.Background(), args, stdio{in: strings.NewReader(stdin), out: &out, err: &errOut})
	return code, out.String(), errOut.String()
}

// commandFlags are the flags each command's help must list. Every
// command is here, so that a new one comes with its help tested.
var commandFlags = map[string][]string{
	"serve":        {"--config FILE", "--listen ADDRESS"},
	"passwd":       {"--cost N"},
	"replay":       {"--source TYPE", "--name NAME"},
	"record":       {"--ami ADDRESS", "--user NAME", "--secret-file FILE", "--md5", "--esl ADDRESS", "--password-file FILE"},
	"fritzmonitor": {"-i HOST", "-p PORT", "-t DURATION", "-c DURATION"},
	"version":      nil,
	"help":         nil,
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		code, out, errOut := run(t, "", args...)
		if code != 0 || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
		}
		if !strings.HasPrefix(out, "Switchboard: ") || !strings.Contains(out, "usage: switchboard COMMAND [flags]\n") ||
			!strings.Contains(out, "Run `switchboard COMMAND -h` for a command's usage and flags.") {
			t.Fatalf("%v printed\n%s", args, out)
		}
		// Every command, once, with its one-line summary, the server
		// first.
		last := -1
		for _, name := range commandNames() {
			line := "\n  " + name + " "
			i := strings.Index(out, line)
			if i < 0 || strings.Count(out, line) != 1 || !strings.Contains(out[i:], commands[name].summary+"\n") {
				t.Errorf("%v: no line for %s with %q:\n%s", args, name, commands[name].summary, out)
			}
			if i < last {
				t.Errorf("%s is out of order", name)
			}
			last = i
		}
		if commandNames()[0] != "serve" {
			t.Errorf("commands start with %s", commandNames()[0])
		}
	}
	// Without a command: the same list, as an error.
	code, out, errOut := run(t, "")
	if code != 2 || out != "" || !strings.Contains(errOut, "usage: switchboard COMMAND [flags]") {
		t.Fatalf("no command: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestCommandHelp: `switchboard COMMAND -h` and `switchboard help
// COMMAND` print the command's summary, usage and flags on stdout and
// exit 0.
func TestCommandHelp(t *testing.T) {
	for name := range commands {
		if _, ok := commandFlags[name]; !ok {
			t.Errorf("command %s has no entry in commandFlags", name)
		}
	}
	for name, flags := range commandFlags {
		t.Run(name, func(t *testing.T) {
			c, ok := commands[name]
			if !ok {
				t.Fatalf("no command %s", name)
			}
			if c.summary == "" || strings.Contains(c.summary, "\n") {
				t.Errorf("summary %q is not one line", c.summary)
			}
			code, out, errOut := run(t, "", name, "-h")
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			if want := "switchboard " + name + ": " + c.summary + "\n\nusage: switchboard " + name; !strings.HasPrefix(out, want) {
				t.Errorf("help starts\n%s\nwant\n%s", out, want)
			}
			for _, f := range flags {
				if !strings.Contains(out, "\n  "+f+" ") {
					t.Errorf("help lacks flag %q:\n%s", f, out)
				}
			}
			if (len(flags) > 0) != strings.Contains(out, "\nflags:\n") {
				t.Errorf("flags section wrong:\n%s", out)
			}
			for _, alias := range [][]string{{name, "--help"}, {"help", name}} {
				code, again, _ := run(t, "", alias...)
				if code != 0 || again != out {
					t.Errorf("%v: exit %d, printed\n%s\nwant\n%s", alias, code, again, out)
				}
			}
		})
	}
}

// TestUsageErrors: a wrong command line says what is wrong, suggests
// what was likely meant, points at the help and exits 2.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"swerve"}, "switchboard: unknown command \"swerve\"; did you mean `serve`?\nrun `switchboard help` for the list of commands\n"},
		{[]string{"frtizmonitor"}, "did you mean `fritzmonitor`?"},
		{[]string{"--config", "x.yaml"}, "the command comes first, its flags after it: switchboard COMMAND [flags]"},
		{[]string{"serve", "--lisen", "x"}, "switchboard serve: unknown flag --lisen; did you mean --listen?\nrun `switchboard serve -h` for its usage and flags\n"},
		{[]string{"serve", "--config"}, "switchboard serve: flag needs an argument: -config"},
		{[]string{"serve", "extra"}, `switchboard serve: unexpected argument "extra"`},
		{[]string{"replay"}, "switchboard replay: replay needs one FILE (- for stdin)"},
		{[]string{"replay", "--source", "amy", "-"}, `switchboard replay: unknown --source "amy"; did you mean ami?`},
		{[]string{"replay", "--source", "pbx", "-"}, `switchboard replay: unknown --source "pbx": want ami, esl or fritz`},
		{[]string{"record", "out.jsonl"}, "switchboard record: give --ami ADDR or --esl ADDR"},
		{[]string{"record", "--ami", "h", "out.jsonl"}, "switchboard record: --ami needs --user and --secret-file"},
		{[]string{"record", "--ami", "h", "--esl", "h", "out.jsonl"}, "give --ami or --esl, not both"},
		{[]string{"passwd", "hunter2"}, "switchboard passwd: the password is read from the terminal or stdin, not from the command line"},
		{[]string{"passwd", "--cost", "3"}, "switchboard passwd: --cost 3: want 4 to 31"},
		{[]string{"version", "now"}, "switchboard version: version takes no arguments"},
		{[]string{"help", "sreve"}, "switchboard help: unknown command \"sreve\"; did you mean `serve`?"},
		{[]string{"help", "a", "b"}, "switchboard help: help takes one command at most"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, "", tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr\n%s\nwant 2 and\n%s", code, errOut, tt.want)
			}
			if out != "" {
				t.Errorf("stdout %q", out)
			}
		})
	}
}

func TestVersionOf(t *testing.T) {
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"},
		{Key: "vcs.revision", Value: "25cab1d3ad234849c770ba11679d15a54a796991"}, {Key: "vcs.time", Value: "2026-12-01T22:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	unstamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"},
	}}
	tests := []struct {
		name                string
		bi                  *debug.BuildInfo
		rev, date, modified string // the Makefile's -X values
		want                string
	}{
		{"stamped by the toolchain", stamped, "", "", "", "switchboard v1.4.0\n" +
			"commit:  25cab1d3ad234849c770ba11679d15a54a796991, with uncommitted changes\n" +
			"date:    2026-12-01T22:00:00Z\n" +
			"go:      go1.26.8 linux/arm64\n"},
		{"the toolchain's stamp wins", stamped, "ffff", "2020-01-01T00:00:00Z", "false", "switchboard v1.4.0\n" +
			"commit:  25cab1d3ad234849c770ba11679d15a54a796991, with uncommitted changes\n" +
			"date:    2026-12-01T22:00:00Z\n" +
			"go:      go1.26.8 linux/arm64\n"},
		{"stamped by the Makefile", unstamped, "0123456789abcdef0123456789abcdef01234567", "2026-11-30T10:00:00Z", "false", "switchboard (devel)\n" +
			"commit:  0123456789abcdef0123456789abcdef01234567\n" +
			"date:    2026-11-30T10:00:00Z\n" +
			"go:      go1.26.8 linux/amd64\n"},
		{"not stamped", unstamped, "", "", "", "switchboard (devel)\n" +
			"commit:  unknown (built without version control information; `make build` adds it)\n" +
			"date:    unknown\n" +
			"go:      go1.26.8 linux/amd64\n"},
		{"no build information", nil, "", "", "", "switchboard (devel)\n" +
			"commit:  unknown (built without version control information; `make build` adds it)\n" +
			"date:    unknown\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			versionOf(tt.bi, tt.rev, tt.date, tt.modified).print(&b)
			if b.String() != tt.want {
				t.Errorf("printed\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

// TestVersionBinary: the real binary tells what the toolchain says of
// it.
func TestVersionBinary(t *testing.T) {
	bin := switchboardBinary(t)
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	if !strings.HasPrefix(got, "switchboard ") || !strings.Contains(got, "\ngo:      "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+"\n") {
		t.Fatalf("version printed\n%s", got)
	}
	want := "commit:  unknown"
	for _, l := range strings.Split(string(info), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision=") {
			want = "commit:  " + strings.TrimPrefix(f[1], "vcs.revision=")
		}
	}
	if !strings.Contains(got, want) {
		t.Errorf("version printed\n%s\nwant %q (go version -m says\n%s)", got, want, info)
	}
	// --version is the same.
	again, err := exec.Command(bin, "--version").Output()
	if err != nil || string(again) != got {
		t.Errorf("--version printed %q (%v)", again, err)
	}
}

func TestCommandNamesOrder(t *testing.T) {
	names := commandNames()
	if !slices.Equal(names[:len(commandOrder)], commandOrder) {
		t.Errorf("order %v", names)
	}
}

// TestServeConfigError: serve with a broken configuration exits 1 and
// says where, before it listens anywhere.
func TestServeConfigError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	if err := os.WriteFile(path, []byte("listen: 127.0.0.1:0\nsources:\n  - name: home\n    type: fritz\n    adress: 192.168.178.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "", "serve", "--config", path)
	want := "switchboard serve: config " + path + ":5:5: sources[0].adress: unknown key; did you mean `address`?\n"
	if code != 1 || out != "" || errOut != want {
		t.Fatalf("exit %d, stderr %q; want 1 and %q", code, errOut, want)
	}
}

// TestServeWarnsAndStopsOnSIGINT runs the binary with a configuration
// without users: it warns that nobody can sign in, and Ctrl-C (SIGINT)
// stops it with a "stopped" line and status 0.
func TestServeWarnsAndStopsOnSIGINT(t *testing.T) {
	p := startSwitchboard(t, fmt.Sprintf("listen: 127.0.0.1:0\ndata_dir: %s\ntokens:\n  - {name: wall, token: %s}\n", t.TempDir(), testToken))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.waitLog(ctx, "level=WARN", "nobody can sign in"); err != nil {
		t.Fatal(err)
	}
	p.signal(os.Interrupt)
	if code := p.waitExit(30 * time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGINT\n%s", code, p.log())
	}
	if _, err := p.waitLog(ctx, `msg=stopped cause="received signal interrupt"`); err != nil {
		t.Fatal(err)
	}
}
