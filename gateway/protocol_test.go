package gateway

import (
	"encoding/json"
	"errors"
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
	samePageSet(t, filepath.Join("..", "sipbridge"), "CallState", 5)
}

// TestPageSetsMatchGo does the same for the other sets the page names: the
// /phone message types, the media states and the transfer states.
func TestPageSetsMatchGo(t *testing.T) {
	samePageSet(t, ".", "MessageType", 15)
	samePageSet(t, filepath.Join("..", "sipbridge"), "MediaState", 6)
	samePageSet(t, filepath.Join("..", "sipbridge"), "TransferState", 4)
}

// samePageSet checks that the frozen object typ of static/phone.js holds
// exactly the values of the Go constants of type typ in dir (at least
// min of them).
func samePageSet(t *testing.T, dir, typ string, min int) {
	t.Helper()
	goValues := typedConstants(t, dir, typ)
	jsValues := frozenObjectValues(t, filepath.Join("..", "static", "phone.js"), typ)
	if len(goValues) < min {
		t.Fatalf("found %d %s constants in %s (%v), want at least %d", len(goValues), typ, dir, goValues, min)
	}
	slices.Sort(goValues)
	slices.Sort(jsValues)
	if !slices.Equal(goValues, jsValues) {
		t.Errorf("static/phone.js %s = %v, Go constants = %v", typ, jsValues, goValues)
	}
}

// typedConstants returns the values of the constants of type typ declared
// in the non-test Go files of dir.
func typedConstants(t *testing.T, dir, typ string) []string {
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
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != typ {
					continue
				}
				for _, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: a %s constant that is not a string literal", fset.Position(v.Pos()), typ)
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

func TestParseClientMessage(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want clientMessage
		ok   bool
	}{
		{name: "dial with id", in: `{"type":"dial","account":"1001","to":" 1002 ","id":"d1"}`, want: clientMessage{Type: MsgDial, Account: "1001", To: "1002", ID: "d1"}, ok: true},
		{name: "hangup by call", in: `{"type":"hangup","call":"1001:a"}`, want: clientMessage{Type: MsgHangup, Call: "1001:a"}, ok: true},
		{name: "hangup by dial id", in: `{"type":"hangup","id":"d1"}`, want: clientMessage{Type: MsgHangup, ID: "d1"}, ok: true},
		{name: "hangup of nothing", in: `{"type":"hangup"}`, want: clientMessage{Type: MsgHangup}},
		{name: "hold", in: `{"type":"hold","call":"1001:a"}`, want: clientMessage{Type: MsgHold, Call: "1001:a"}, ok: true},
		{name: "hold without call", in: `{"type":"hold"}`, want: clientMessage{Type: MsgHold}},
		{name: "resume", in: `{"type":"resume","call":"1001:a"}`, want: clientMessage{Type: MsgResume, Call: "1001:a"}, ok: true},
		{name: "blind transfer", in: `{"type":"transfer","call":"1001:a","to":"1003"}`, want: clientMessage{Type: MsgTransfer, Call: "1001:a", To: "1003"}, ok: true},
		{name: "attended transfer", in: `{"type":"transfer","call":"1001:a","consult":"1001:b"}`, want: clientMessage{Type: MsgTransfer, Call: "1001:a", Consult: "1001:b"}, ok: true},
		{name: "transfer to both", in: `{"type":"transfer","call":"1001:a","to":"1003","consult":"1001:b"}`, want: clientMessage{Type: MsgTransfer, Call: "1001:a", To: "1003", Consult: "1001:b"}},
		{name: "transfer to itself", in: `{"type":"transfer","call":"1001:a","consult":"1001:a"}`, want: clientMessage{Type: MsgTransfer, Call: "1001:a", Consult: "1001:a"}},
		{name: "transfer to a header", in: `{"type":"transfer","call":"1001:a","to":"1\r\nVia: x"}`, want: clientMessage{Type: MsgTransfer, Call: "1001:a", To: "1\r\nVia: x"}},
		{name: "dtmf in capitals", in: `{"type":"dtmf","call":"1001:a","digits":"12#*abcd"}`, want: clientMessage{Type: MsgDTMF, Call: "1001:a", Digits: "12#*ABCD"}, ok: true},
		{name: "dtmf of letters", in: `{"type":"dtmf","call":"1001:a","digits":"12e"}`, want: clientMessage{Type: MsgDTMF, Call: "1001:a", Digits: "12e"}},
		{name: "dtmf too long", in: `{"type":"dtmf","call":"1001:a","digits":"` + strings.Repeat("1", maxDigits+1) + `"}`, want: clientMessage{Type: MsgDTMF, Call: "1001:a", Digits: strings.Repeat("1", maxDigits+1)}},
		{name: "unknown type keeps call and id", in: `{"type":"teleport","call":"1001:a","id":"x"}`, want: clientMessage{Type: "teleport", Call: "1001:a", ID: "x"}},
		{name: "id with a line break", in: `{"type":"dial","account":"1001","to":"1002","id":"a\nb"}`, want: clientMessage{Type: MsgDial, Account: "1001", To: "1002"}},
		{name: "not json", in: `{"type":`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseClientMessage([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBadMessage) {
				t.Errorf("err = %v, want ErrBadMessage", err)
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
