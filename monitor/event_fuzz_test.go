package monitor

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"testing"
)

// FuzzEvent feeds arbitrary bytes to the envelope decoder, as a stream of
// envelopes read in two pieces (the way events arrive from another node or
// a replay file). Whatever decodes must encode, and decode again to the
// same JSON.
func FuzzEvent(f *testing.F) {
	fx, err := os.Open("testdata/envelopes.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	defer fx.Close()
	sc := bufio.NewScanner(fx)
	for sc.Scan() {
		f.Add(append([]byte(nil), sc.Bytes()...), uint(len(sc.Bytes())/2))
	}
	f.Add([]byte(`{"type":"widget","seq":1,"widget":{"id":"a","on":true}}`+"\n"+`{"type":"user","seq":2,"event":{}}`), uint(30))
	f.Fuzz(func(t *testing.T, in []byte, cut uint) {
		n := int(cut % uint(len(in)+1))
		dec := json.NewDecoder(io.MultiReader(bytes.NewReader(in[:n]), bytes.NewReader(in[n:])))
		for {
			var ev Event
			err := dec.Decode(&ev)
			if err != nil {
				if errors.Is(err, ErrUnknownKind) || errors.Is(err, ErrBadEnvelope) {
					continue
				}
				return // the end, or not JSON at all: the stream is over
			}
			b, err := ev.JSON()
			if err != nil {
				t.Fatalf("decoded %+v does not encode: %v", ev, err)
			}
			var back Event
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("%s does not decode: %v", b, err)
			}
			again, err := back.JSON()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encoded\n%s\nas\n%s (%v)", b, again, err)
			}
		}
	})
}
