package fritz

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var berlin = mustLocation("Europe/Berlin")

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return loc
}

func TestParseLine(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 15, 3, 0, berlin)
	tests := []struct {
		name string
		in   string
		want Line
	}{
		{
			name: "ring",
			in:   "23.11.26 10:15:03;RING;0;01701234567;1234567;SIP0;",
			want: Line{Time: at, Kind: KindRing, ID: "0", Caller: "01701234567", Called: "1234567", Account: "SIP0"},
		},
		{
			name: "ring with withheld caller",
			in:   "23.11.26 10:15:03;RING;12;;1234567;SIP1;",
			want: Line{Time: at, Kind: KindRing, ID: "12", Called: "1234567", Account: "SIP1"},
		},
		{
			name: "call",
			in:   "23.11.26 10:15:03;CALL;1;20;1234567;0891234567;SIP1;",
			want: Line{Time: at, Kind: KindCall, ID: "1", Ext: "20", Caller: "1234567", Called: "0891234567", Account: "SIP1"},
		},
		{
			name: "connect",
			in:   "23.11.26 10:15:03;CONNECT;1;20;0891234567;",
			want: Line{Time: at, Kind: KindConnect, ID: "1", Ext: "20", Number: "0891234567"},
		},
		{
			name: "connect without number",
			in:   "23.11.26 10:15:03;CONNECT;4;10;;",
			want: Line{Time: at, Kind: KindConnect, ID: "4", Ext: "10"},
		},
		{
			name: "disconnect",
			in:   "23.11.26 10:15:03;DISCONNECT;1;83;",
			want: Line{Time: at, Kind: KindDisconnect, ID: "1", Seconds: 83},
		},
		{
			name: "crlf",
			in:   "23.11.26 10:15:03;DISCONNECT;1;83;\r\n",
			want: Line{Time: at, Kind: KindDisconnect, ID: "1", Seconds: 83},
		},
		{
			name: "no trailing semicolon",
			in:   "23.11.26 10:15:03;DISCONNECT;1;83",
			want: Line{Time: at, Kind: KindDisconnect, ID: "1", Seconds: 83},
		},
		{
			name: "surrounding spaces",
			in:   "  23.11.26 10:15:03 ; CONNECT ; 1 ; 20 ; 0891234567 ;  \n",
			want: Line{Time: at, Kind: KindConnect, ID: "1", Ext: "20", Number: "0891234567"},
		},
		{
			name: "padded with empty fields",
			in:   "23.11.26 10:15:03;DISCONNECT;1;83;;;",
			want: Line{Time: at, Kind: KindDisconnect, ID: "1", Seconds: 83},
		},
		{
			name: "leap day",
			in:   "29.02.28 00:00:00;DISCONNECT;0;0;",
			want: Line{Time: time.Date(2028, 2, 29, 0, 0, 0, 0, berlin), Kind: KindDisconnect, ID: "0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine([]byte(tt.in), berlin)
			if err != nil {
				t.Fatalf("ParseLine(%q): %v", tt.in, err)
			}
			if !got.Time.Equal(tt.want.Time) || got.Time.Location() != berlin {
				t.Errorf("time = %v, want %v", got.Time, tt.want.Time)
			}
			got.Time, tt.want.Time = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("ParseLine(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseLineErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"blank", " \r\n", ErrMalformed},
		{"no fields", "garbage", ErrMalformed},
		{"unknown kind", "23.11.26 10:15:03;HOLD;1;", ErrUnknownKind},
		{"lower case kind", "23.11.26 10:15:03;ring;0;1;2;SIP0;", ErrUnknownKind},
		{"ring without id", "23.11.26 10:15:03;RING", ErrMalformed},
		{"too many fields", "23.11.26 10:15:03;DISCONNECT;1;83;9;", ErrMalformed},
		{"far too many fields", "23.11.26 10:15:03;RING;1;2;3;4;5;6;7;8;9;", ErrMalformed},
		{"disconnect without duration", "23.11.26 10:15:03;DISCONNECT;1;", ErrMalformed},
		{"negative duration", "23.11.26 10:15:03;DISCONNECT;1;-4;", ErrMalformed},
		{"duration not a number", "23.11.26 10:15:03;DISCONNECT;1;1e3;", ErrMalformed},
		{"duration overflow", "23.11.26 10:15:03;DISCONNECT;1;99999999999999999999999;", ErrMalformed},
		{"id not a number", "23.11.26 10:15:03;CONNECT;x;10;123;", ErrMalformed},
		{"id too long", "23.11.26 10:15:03;CONNECT;1234567890;10;123;", ErrMalformed},
		{"day out of range", "32.11.26 10:15:03;RING;0;1;2;SIP0;", ErrMalformed},
		{"no 30 february", "30.02.26 10:15:03;RING;0;1;2;SIP0;", ErrMalformed},
		{"hour out of range", "23.11.26 24:15:03;RING;0;1;2;SIP0;", ErrMalformed},
		{"iso date", "2026-11-23 10:15;RING;0;1;2;SIP0;", ErrMalformed},
		{"single digit day", "3.11.26 10:15:03;RING;0;1;2;SIP0;", ErrMalformed},
		{"too long", "23.11.26 10:15:03;RING;0;" + strings.Repeat("1", MaxLineLength) + ";2;SIP0;", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseLine([]byte(tt.in), berlin)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseLine(%q) error = %v, want %v", tt.in, err, tt.want)
			}
			if len(err.Error()) > 200 {
				t.Errorf("error message of %d bytes; peer input must be cut short", len(err.Error()))
			}
		})
	}
}

func TestLineStringRoundTrip(t *testing.T) {
	for _, in := range []string{
		"23.11.26 10:15:03;RING;0;01701234567;1234567;SIP0;",
		"23.11.26 10:15:03;CALL;1;20;1234567;0891234567;SIP1;",
		"23.11.26 10:15:03;CONNECT;1;20;0891234567;",
		"23.11.26 10:15:03;DISCONNECT;1;83;",
	} {
		l, err := ParseLine([]byte(in), time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		if got := l.String(); got != in {
			t.Errorf("String() = %q, want %q", got, in)
		}
	}
}

func TestParseLineNilLocationIsLocal(t *testing.T) {
	l, err := ParseLine([]byte("23.11.26 10:15:03;DISCONNECT;1;83;"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Time.Location() != time.Local {
		t.Errorf("location = %v, want Local", l.Time.Location())
	}
}
