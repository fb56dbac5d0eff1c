package sipbridge

import "testing"

func TestCodecString(t *testing.T) {
	tests := []struct {
		name  string
		codec Codec
		want  string
	}{
		{name: "PCMU", codec: CodecPCMU, want: "PCMU/8000"},
		{name: "G722 at its RTP clock", codec: CodecG722, want: "G722/8000"},
		{name: "opus stereo carries its channels", codec: CodecOpus, want: "opus/48000/2"},
		{name: "zero channels mean one", codec: Codec{Name: "PCMA", ClockRate: 8000}, want: "PCMA/8000"},
		{name: "explicit one channel", codec: Codec{Name: "L16", ClockRate: 16000, Channels: 1}, want: "L16/16000"},
		{name: "telephone-event", codec: CodecTelephoneEvent, want: "telephone-event/8000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.codec.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCodecSameFormat(t *testing.T) {
	tests := []struct {
		name string
		a, b Codec
		want bool
	}{
		{name: "payload type and fmtp ignored", a: CodecOpus, b: Codec{Name: "OPUS", ClockRate: 48000, Channels: 2, PayloadType: 96}, want: true},
		{name: "zero channels equal one", a: CodecPCMU, b: Codec{Name: "pcmu", ClockRate: 8000}, want: true},
		{name: "channels differ", a: CodecOpus, b: Codec{Name: "opus", ClockRate: 48000, Channels: 1}},
		{name: "rate differs", a: CodecPCMU, b: Codec{Name: "PCMU", ClockRate: 16000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.SameFormat(tt.b); got != tt.want {
				t.Errorf("%v.SameFormat(%v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}
