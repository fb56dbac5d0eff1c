package cluster

import (
	"errors"
	"testing"
)

func TestDecodePresent(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		seq   uint64
		event string
		err   error
	}{
		{"value", `{"seq":42,"event":{"kind":"call"}}`, 42, `{"kind":"call"}`, nil},
		{"no seq", `{"event":{"kind":"call"}}`, 0, "", ErrBadPresent},
		{"no event", `{"seq":3}`, 0, "", ErrBadPresent},
		{"event not an object", `{"seq":3,"event":"x"}`, 0, "", ErrBadPresent},
		{"null event", `{"seq":3,"event":null}`, 0, "", ErrBadPresent},
		{"negative seq", `{"seq":-1,"event":{}}`, 0, "", ErrBadPresent},
		{"not json", `seq=3`, 0, "", ErrBadPresent},
		{"empty", ``, 0, "", ErrBadPresent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq, event, err := decodePresent([]byte(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if seq != tt.seq || string(event) != tt.event {
				t.Fatalf("got %d %s, want %d %s", seq, event, tt.seq, tt.event)
			}
		})
	}
}

// FuzzDecodePresent: a value of the bucket, whatever another version or
// a broken write left, is read or refused with ErrBadPresent; what is
// read encodes back to the same.
func FuzzDecodePresent(f *testing.F) {
	for _, s := range []string{
		`{"seq":42,"event":{"v":1,"kind":"call","at":"2026-01-01T00:00:00Z","data":{"id":"x"}}}`,
		`{"seq":1,"event":{}}`,
		`{"seq":0,"event":{}}`,
		`{"seq":18446744073709551615,"event":{"a":[1,2]}}`,
		`{"event":"x"}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		seq, event, err := decodePresent(data)
		if err != nil {
			if !errors.Is(err, ErrBadPresent) {
				t.Fatalf("error %v does not wrap ErrBadPresent", err)
			}
			return
		}
		again, err := encodePresent(seq, event)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		seq2, _, err := decodePresent(again)
		if err != nil || seq2 != seq {
			t.Fatalf("round trip: %d, %v; want %d", seq2, err, seq)
		}
	})
}
