package ami

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadBanner(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"Asterisk Call Manager/5.0.1\r\n", "5.0.1", nil},
		{"Asterisk Call Manager/2.10.4\n", "2.10.4", nil},
		{"SSH-2.0-OpenSSH_9.2\r\n", "", ErrBanner},
		{"", "", io.EOF},
	}
	for _, tc := range tests {
		got, err := NewReader(strings.NewReader(tc.in)).ReadBanner()
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("ReadBanner(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestReadMessage(t *testing.T) {
	type result struct {
		msg string // Message.String(), or the error's sentinel name
		err error
	}
	tests := []struct {
		name string
		in   string
		want []result
	}{
		{
			name: "event and response, CRLF",
			in:   "Event: Newchannel\r\nChannel: SIP/201-0001\r\nUniqueid: 1.1\r\n\r\nResponse: Success\r\nActionID: 7\r\nMessage: Authentication accepted\r\n\r\n",
			want: []result{{msg: "Event: Newchannel\nChannel: SIP/201-0001\nUniqueid: 1.1\n"}, {msg: "Response: Success\nActionID: 7\nMessage: Authentication accepted\n"}, {err: io.EOF}},
		},
		{
			name: "LF only, blank lines between messages, value with colons",
			in:   "\n\nEvent: VarSet\nValue: sip:201@10.0.0.1:5060\n\n",
			want: []result{{msg: "Event: VarSet\nValue: sip:201@10.0.0.1:5060\n"}, {err: io.EOF}},
		},
		{
			name: "no space after colon, empty value",
			in:   "Event:Hangup\r\nCause-txt:\r\n\r\n",
			want: []result{{msg: "Event: Hangup\nCause-txt: \n"}, {err: io.EOF}},
		},
		{
			name: "malformed line spoils only its message",
			in:   "Event: A\r\nthis is no field\r\nKey: v\r\n\r\nEvent: B\r\n\r\n",
			want: []result{{err: ErrMalformed}, {msg: "Event: B\n"}, {err: io.EOF}},
		},
		{
			name: "a bare CR inside a value spoils its message",
			in:   "Event: A\r\nKey: v\rEvent: Smuggled\r\n\r\nEvent: B\r\nKey: w\r\r\n\r\n",
			want: []result{{err: ErrMalformed}, {msg: "Event: B\nKey: w\n"}, {err: io.EOF}},
		},
		{
			name: "cut inside a message",
			in:   "Event: A\r\nKey: v",
			want: []result{{err: io.ErrUnexpectedEOF}},
		},
		{
			name: "over-long line is skipped and reported",
			in:   "Event: Big\r\nValue: " + strings.Repeat("x", MaxLineBytes+10) + "\r\n\r\nEvent: After\r\n\r\n",
			want: []result{{err: ErrTooLarge}, {msg: "Event: After\n"}, {err: io.EOF}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in))
			for i, w := range tc.want {
				m, err := r.ReadMessage()
				if w.err != nil {
					if !errors.Is(err, w.err) {
						t.Fatalf("message %d: err = %v, want %v", i, err, w.err)
					}
					continue
				}
				if err != nil || m.String() != w.msg {
					t.Fatalf("message %d = %q, %v; want %q", i, m.String(), err, w.msg)
				}
			}
		})
	}
}

func TestMessageLookupIsCaseInsensitive(t *testing.T) {
	m := Message{{"Event", "Hangup"}, {"Cause", "16"}, {"cause", "17"}}
	if m.Get("CAUSE") != "16" || m.Event() != "Hangup" || m.Get("Nope") != "" {
		t.Fatalf("lookup failed: %v", m)
	}
	if mp := m.Map(); mp["Cause"] != "16" || len(mp) != 3 {
		t.Fatalf("Map = %v", mp)
	}
}

func TestAppendMessageRoundTrip(t *testing.T) {
	in := Message{{"Action", "Login"}, {"Username", "admin"}, {"Secret", "s:e c"}, {"ActionID", "1"}}
	b, err := AppendMessage(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := NewReader(strings.NewReader(string(b))).ReadMessage()
	if err != nil || out.String() != in.String() {
		t.Fatalf("round trip = %q, %v", out, err)
	}
	if _, err := AppendMessage(nil, Message{{"Action", "Ping\r\nAction: Logoff"}}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("line break in a value: err = %v", err)
	}
}
