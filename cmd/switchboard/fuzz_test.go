package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchboard/switchboard/monitor/fritz"
)

// FuzzParseConfig: any text gives a configuration or a configuration
// error whose places lie in the text, never a panic.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(issueConfig))
	f.Add(defaultConfig)
	f.Add([]byte("sources:\n  - &a {name: x, type: fritz, address: h}\n  - <<: *a\n    name: y\n"))
	f.Add([]byte("listen: [a\n\tb: c\n"))
	f.Add([]byte("sip:\n  rtp_port_min: 70000\nusers:\n  - name: a\n    acounts: [x]\n"))
	f.Add([]byte("accounts:\n  - {name: d, registrar: h, username: u, password: p, blf_expires: 60, blf: [{target: \"201\", group: g}]}\nblf:\n  - {target: \"sip:202@h\", account: d}\n  - {target: x}\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := parseConfig(text, "f.yaml")
		if err == nil {
			if c == nil {
				t.Fatal("no config and no error")
			}
			return
		}
		var ce *configError
		if !errors.As(err, &ce) || !errors.Is(err, errInvalidConfig) || len(ce.problems) == 0 {
			t.Fatalf("error %v is not a configuration error", err)
		}
		lines := yamlBreaks(text) + 1
		for _, p := range ce.problems {
			if p.line < 0 || p.line > lines+1 || p.col < 0 || p.msg == "" {
				t.Fatalf("problem %+v outside the %d lines of %q", p, lines, text)
			}
		}
	})
}

// yamlBreaks counts the line breaks of text as YAML 1.1 (and yaml.v3)
// does: CR LF, CR, LF, NEL, LS and PS are one each.
func yamlBreaks(text []byte) int {
	n := 0
	for s := string(text); s != ""; {
		switch {
		case strings.HasPrefix(s, "\r\n"):
			n++
			s = s[2:]
		case s[0] == '\r' || s[0] == '\n':
			n++
			s = s[1:]
		case strings.HasPrefix(s, "\u0085"), strings.HasPrefix(s, "\u2028"), strings.HasPrefix(s, "\u2029"):
			n++
			_, size := utf8.DecodeRuneInString(s)
			s = s[size:]
		default:
			s = s[1:]
		}
	}
	return n
}

// FuzzReplayInput: whatever the input, and however it arrives, the
// records replay passes on are each one its source reads, and the
// unreadable ones are counted at lines of the input.
func FuzzReplayInput(f *testing.F) {
	for _, p := range []string{
		filepath.Join("testdata", "replay", "fritz_with_bad_lines.txt"),
		filepath.Join("testdata", "replay", "ami_text.txt"),
		filepath.Join("..", "..", "monitor", "fritz", "testdata", "calls.txt"),
		filepath.Join("..", "..", "monitor", "esl", "testdata", "busy.jsonl"),
		filepath.Join("..", "..", "monitor", "ami", "testdata", "simple", "ab_a_cancel.json"),
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for kind := range byte(3) {
			f.Add(b, kind, uint(len(b)/2))
		}
	}
	f.Add([]byte("{\n \"Event\": \"Hangup\"\n}\n{\"Event\":"), byte(1), uint(3))
	f.Fuzz(func(t *testing.T, data []byte, k byte, split uint) {
		kind := []string{"fritz", "ami", "esl"}[k%3]
		at := int(split % uint(len(data)+1))
		// Input in two parts: a record may be cut anywhere by the reads.
		in := io.MultiReader(bytes.NewReader(data[:at]), bytes.NewReader(data[at:]))
		var rep inputReport
		out, err := io.ReadAll(newRecordingFilter(kind, in, &rep))
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, b := range rep.first {
			if b.line < 1 || b.line > lines {
				t.Fatalf("bad record at line %d of %d", b.line, lines)
			}
		}
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, maxJSONRecord+1)
		for sc.Scan() {
			n++
			rec := sc.Bytes()
			switch kind {
			case "fritz":
				if _, err := fritz.ParseLine(rec, time.Local); err != nil {
					t.Fatalf("passed on %q: %v", rec, err)
				}
			case "ami":
				if why := checkAMI(rec); why != "" {
					t.Fatalf("passed on %q: %s", rec, why)
				}
			case "esl":
				if why := checkESL(rec); why != "" {
					t.Fatalf("passed on %q: %s", rec, why)
				}
			}
		}
		if n != rep.good {
			t.Fatalf("%d records passed on, %d counted good", n, rep.good)
		}
	})
}
