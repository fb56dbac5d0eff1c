package flatjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

func scanAll(r io.Reader) ([][]Member, error) {
	s := NewScanner(r)
	var out [][]Member
	for {
		ms, err := s.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, append([]Member(nil), ms...))
	}
}

func render(objs [][]Member) string {
	var b strings.Builder
	for _, o := range objs {
		for _, m := range o {
			fmt.Fprintf(&b, "%s=%d:%s;", m.Key, m.Kind, m.Value)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestScanner(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{"lines", "{\"Event\":\"Hangup\",\"Cause\":\"16\"}\n{\"Event\":\"A\"}\n", "Event=0:Hangup;Cause=0:16;\nEvent=0:A;\n", nil},
		{"array, spaces", " [\n  {\"a\": \"1\"},\n  {\"b\" : \"2\"}\n]\n", "a=0:1;\nb=0:2;\n", nil},
		{"empty array", "[]", "", nil},
		{"empty input", "  \n", "", nil},
		{"empty object", "{}\n{ }", "\n\n", nil},
		{"kinds", `{"n":-1.5e3,"t":true,"f":false,"z":null,"a":["x",1],"o":{"k":"}"}}`, "n=1:-1.5e3;t=2:true;f=2:false;z=3:;a=4:[\"x\",1];o=5:{\"k\":\"}\"};\n", nil},
		{"escapes", `{"k\"":"a\nb\u00e9\ud83d\ude00\/\\"}`, "k\"=0:a\nbé😀/\\;\n", nil},
		{"lone surrogate", `{"k":"\ud83dx"}`, "k=0:\uFFFDx;\n", nil},
		{"cut", `{"a":"b"`, "", io.ErrUnexpectedEOF},
		{"cut array", `[{"a":"b"}`, "a=0:b;\n", io.ErrUnexpectedEOF},
		{"not an object", `{"a":"b"} x`, "a=0:b;\n", ErrSyntax},
		{"bad value", `{"a":x}`, "", ErrSyntax},
		{"bad number", `{"a":01}`, "", ErrSyntax},
		{"control char", "{\"a\":\"\x01\"}", "", ErrSyntax},
		{"key not a string", `{a:"b"}`, "", ErrSyntax},
		{"after the array", `[{"a":"b"}] {}`, "a=0:b;\n", ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				got, err := scanAll(r)
				if !errors.Is(err, tc.err) || render(got) != tc.want {
					t.Fatalf("got %q, %v; want %q, %v", render(got), err, tc.want, tc.err)
				}
			}
		})
	}
}

func TestScannerGrowsForLongObjects(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	in := `{"a":"` + long + `"}` + "\n" + `{"b":"c"}`
	got, err := scanAll(strings.NewReader(in))
	if err != nil || len(got) != 2 || got[0][0].Value != long || got[1][0].Value != "c" {
		t.Fatalf("%d objects, %v", len(got), err)
	}
}

// FuzzScanner feeds arbitrary input, whole and split in two: the scanner
// must never panic, and an object it reads must be one encoding/json
// reads the same.
func FuzzScanner(f *testing.F) {
	f.Add([]byte(`{"Event":"Newchannel","Channel":"SIP/201-0001","Uniqueid":"1.1"}`+"\n"+`{"Event":"Hangup","Cause":"16"}`), 10)
	f.Add([]byte(`[{"a":"\u00e9\n"}, {"b":["x",{"y":null}],"c":-0.5e+3,"d":true}]`), 7)
	f.Add([]byte(`{"k":"\ud83d\ude00\ud83d"}`), 3)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		if split < 0 || split > len(data) {
			split = len(data) / 2
		}
		r := io.MultiReader(strings.NewReader(string(data[:split])), strings.NewReader(string(data[split:])))
		objs, err := scanAll(r)
		if err == nil && len(objs) == 1 && utf8.Valid(data) && !strings.HasPrefix(strings.TrimSpace(string(data)), "[") {
			var m map[string]json.RawMessage
			if jerr := json.Unmarshal(data, &m); jerr != nil {
				t.Fatalf("scanner read %q, encoding/json did not: %v", data, jerr)
			}
			for _, mem := range objs[0] {
				raw, ok := m[mem.Key]
				if !ok {
					t.Fatalf("key %q not in %v", mem.Key, m)
				}
				if mem.Kind == String {
					var s string
					if err := json.Unmarshal(raw, &s); err == nil && s != mem.Value && countKey(objs[0], mem.Key) == 1 {
						t.Fatalf("%q: scanner %q, encoding/json %q", mem.Key, mem.Value, s)
					}
				}
			}
		}
	})
}

func countKey(ms []Member, key string) int {
	n := 0
	for _, m := range ms {
		if m.Key == key {
			n++
		}
	}
	return n
}

func TestDecode(t *testing.T) {
	ms, err := Decode(nil, []byte(` {"a":"b","c":["d"]} `))
	if err != nil || render([][]Member{ms}) != "a=0:b;c=4:[\"d\"];\n" {
		t.Fatalf("%v, %v", ms, err)
	}
	for _, in := range []string{``, `{`, `[]`, `{"a":"b"} {}`, `{"a":}`} {
		if _, err := Decode(nil, []byte(in)); err == nil {
			t.Errorf("Decode(%q) accepted", in)
		}
	}
}
