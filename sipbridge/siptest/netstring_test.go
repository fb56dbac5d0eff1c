package siptest

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadNetstring(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr error // after the wanted messages; nil means io.EOF
	}{
		{"one", `5:hello,`, []string{"hello"}, nil},
		{"two", `2:{},3:abc,`, []string{"{}", "abc"}, nil},
		{"empty payload", `0:,`, []string{""}, nil},
		{"missing comma", `5:hello;`, nil, ErrNetstring},
		{"bad length", `x:hello,`, nil, ErrNetstring},
		{"empty length", `:hello,`, nil, ErrNetstring},
		{"truncated payload", `10:abc`, nil, ErrNetstring},
		{"truncated length", `12`, nil, ErrNetstring},
		{"huge length", `99999999999:`, nil, ErrNetstring},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tt.in))
			for _, w := range tt.want {
				got, err := readNetstring(r)
				if err != nil || string(got) != w {
					t.Fatalf("got %q, %v; want %q", got, err, w)
				}
			}
			_, err := readNetstring(r)
			want := tt.wantErr
			if want == nil {
				want = io.EOF
			}
			if !errors.Is(err, want) {
				t.Errorf("final err = %v, want %v", err, want)
			}
		})
	}
}

func TestAppendNetstring(t *testing.T) {
	got := string(appendNetstring([]byte("x"), []byte(`{"a":1}`)))
	if got != `x7:{"a":1},` {
		t.Errorf("got %q", got)
	}
}

// FuzzReadNetstring checks that the ctrl_tcp framing reader survives any
// input and that whatever it returns re-encodes to the bytes it consumed.
func FuzzReadNetstring(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.netstring"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`5:hello,0:,`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(strings.NewReader(string(b)))
		consumed := 0
		for {
			msg, err := readNetstring(r)
			if err != nil {
				return
			}
			enc := appendNetstring(nil, msg)
			consumed += len(enc)
			if consumed > len(b) {
				t.Fatalf("consumed %d of %d bytes", consumed, len(b))
			}
		}
	})
}
