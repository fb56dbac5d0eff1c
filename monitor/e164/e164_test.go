package e164

import "testing"

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, country, want string
		ok                bool
	}{
		{"+49 170 1234567", "DE", "+491701234567", true},
		{"0170 1234567", "DE", "+491701234567", true},
		{"00491701234567", "DE", "+491701234567", true},
		{"00491701234567", "", "+491701234567", true},
		{"030/123 45-67", "DE", "+49301234567", true},
		{"+49301234567", "", "+49301234567", true},
		{"0301234567", "", "", false},
		{"201", "DE", "", false},
		{"", "DE", "", false},
		{"anonymous", "DE", "", false},
		{"sip:1001@pbx", "DE", "", false},
		{"+1 (415) 555-2671", "DE", "+14155552671", true},
		{"415 555 2671", "US", "+14155552671", true},
		{"2012", "US", "", false},
		// Phonebook forms.
		{"+49 (30) 123-4567", "DE", "+49301234567", true},
		{"030/1234567", "de", "+49301234567", true},
		{"tel:+49-30-1234567;ext=2", "DE", "+49301234567", true},
		{"TEL:0301234567", "DE", "+49301234567", true},
		{"+44 20 7946 0018", "DE", "+442079460018", true},
		{"020 7946 0018", "GB", "+442079460018", true},
		{"**610", "DE", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := Normalize(tt.in, tt.country)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Normalize(%q, %q) = %q, %v; want %q, %v", tt.in, tt.country, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestKey(t *testing.T) {
	tests := []struct{ in, country, want string }{
		{"0170 1234567", "DE", "+491701234567"},
		{"201", "DE", "201"},
		{" *21# ", "DE", "*21#"},
		{"anonymous", "DE", "anonymous"},
		{"**610", "DE", "**610"},
		{"tel:201", "DE", "201"},
		{"0301234567", "", "0301234567"},
	}
	for _, tt := range tests {
		if got := Key(tt.in, tt.country); got != tt.want {
			t.Errorf("Key(%q, %q) = %q, want %q", tt.in, tt.country, got, tt.want)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"+49 170 1234567", "0170 1234567", "00491701234567", "201", "", "+", "00", "sip:x@y"} {
		f.Add(s, "DE")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, in, country string) {
		e, ok := Normalize(in, country)
		if ok && (len(e) < 2 || e[0] != '+') {
			t.Fatalf("Normalize(%q) = %q: not E.164", in, e)
		}
		_ = Key(in, country)
	})
}
