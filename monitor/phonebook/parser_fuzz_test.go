package phonebook

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/switchboard/switchboard/monitor/e164"
)

// fuzzParser feeds a parser arbitrary input, whole and split in two at
// cut (the way a file or an HTTP body arrives in pieces): both must give
// the same entries, and every entry a name and a number.
func fuzzParser(f *testing.F, seed string, parse func(io.Reader) ([]Entry, []error)) {
	f.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", seed))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw, uint(len(raw)/2))
	f.Add(raw[:len(raw)/3], uint(7))
	f.Add([]byte{}, uint(0))
	f.Fuzz(func(t *testing.T, in []byte, cut uint) {
		n := int(cut % uint(len(in)+1))
		whole, _ := parse(bytes.NewReader(in))
		split, _ := parse(io.MultiReader(bytes.NewReader(in[:n]), bytes.NewReader(in[n:])))
		if !reflect.DeepEqual(whole, split) {
			t.Fatalf("read whole %q, split at %d %q", whole, n, split)
		}
		for _, e := range whole {
			if e.Name == "" || len(e.Numbers) == 0 {
				t.Fatalf("entry without a name or a number: %q", e)
			}
			if utf8.ValidString(string(in)) && !utf8.ValidString(e.Name) {
				t.Fatalf("valid input gave an invalid name %q", e.Name)
			}
			for _, num := range e.Numbers {
				e164.Key(num, "DE")
			}
		}
	})
}

func FuzzParseCSV(f *testing.F)      { fuzzParser(f, "contacts.csv", ParseCSV) }
func FuzzParseVCard(f *testing.F)    { fuzzParser(f, "contacts.vcf", ParseVCard) }
func FuzzParseFritzXML(f *testing.F) { fuzzParser(f, "fritz-phonebook.xml", ParseFritzXML) }
