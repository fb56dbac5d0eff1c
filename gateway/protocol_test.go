package gateway

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// TestPageCallStatesMatchSIP keeps the page's CallState object
// (static/phone.js) equal to the CallState constants of sipbridge, whose
// values the /phone protocol sends as they are: a state added on one side
// and not the other fails here.
func TestPageCallStatesMatchSIP(t *testing.T) {
	goStates := callStateConstants(t, filepath.Join("..", "sipbridge"))
	jsStates := frozenObjectValues(t, filepath.Join("..", "static", "phone.js"), "CallState")
	if len(goStates) < 5 {
		t.Fatalf("found %d sipbridge.CallState constants (%v), want at least trying, ringing, early, connected, ended", len(goStates), goStates)
	}
	slices.Sort(goStates)
	slices.Sort(jsStates)
	if !slices.Equal(goStates, jsStates) {
		t.Errorf("static/phone.js CallState = %v, sipbridge.CallState constants = %v", jsStates, goStates)
	}
}

// callStateConstants returns the values of the constants of type
// CallState declared in the non-test Go files of dir.
func callStateConstants(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "CallState" {
					continue
				}
				for _, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: a CallState constant that is not a string literal", fset.Position(v.Pos()))
					}
					s, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// frozenObjectValues returns the string values of `const name =
// Object.freeze({ KEY: 'value', … })` in the script at path.
func frozenObjectValues(t *testing.T, path, name string) []string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	obj := regexp.MustCompile(`const ` + name + ` = Object\.freeze\(\{([^}]*)\}\)`).FindSubmatch(src)
	if obj == nil {
		t.Fatalf("%s: no frozen %s object", path, name)
	}
	var out []string
	for _, m := range regexp.MustCompile(`[A-Z_]+:\s*'([^']*)'`).FindAllSubmatch(obj[1], -1) {
		out = append(out, string(m[1]))
	}
	return out
}

// TestPhoneCallJSON pins the wire form of a call as the README documents
// it: states and codecs as sipbridge spells them.
func TestPhoneCallJSON(t *testing.T) {
	started := time.Date(2026, 11, 23, 10, 15, 3, 0, time.UTC)
	opus := sipbridge.CodecOpus
	ch := newCallHandle(nil, &fakeCall{id: "office:abc", account: "office", direction: monitor.Outbound, remote: monitor.Party{Number: "1002"}})
	ch.view.Started = started
	tests := []struct {
		name string
		ev   sipbridge.CallEvent
		want string
	}{
		{
			name: "ringing",
			ev:   sipbridge.CallEvent{State: sipbridge.StateRinging, Status: 180},
			want: `{"id":"office:abc","account":"office","direction":"outbound","state":"ringing","media":"none","remote":{"number":"1002"},"status":180,"started":"2026-11-23T10:15:03Z"}`,
		},
		{
			name: "connected on opus shows its channels",
			ev:   sipbridge.CallEvent{State: sipbridge.StateConnected, Status: 200, Codec: &opus},
			want: `{"id":"office:abc","account":"office","direction":"outbound","state":"connected","media":"active","remote":{"number":"1002"},"codec":"opus/48000/2","status":200,"started":"2026-11-23T10:15:03Z"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := ch.apply(tt.ev)
			v.Answered = time.Time{}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}
