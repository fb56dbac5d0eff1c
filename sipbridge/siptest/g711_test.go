package siptest

import (
	"math"
	"testing"
)

func TestG711KnownValues(t *testing.T) {
	// Reference points from ITU-T G.711 tables: µ-law 0xFF and A-law 0xD5
	// are the (positive) zero codes; 0x80 / 0xAA are the positive maxima.
	tests := []struct {
		name string
		got  int16
		want int16
	}{
		{"ulaw 0xff", MuLawToLinear(0xff), 0},
		{"ulaw 0x7f", MuLawToLinear(0x7f), 0},
		{"ulaw 0x80", MuLawToLinear(0x80), 32124},
		{"ulaw 0x00", MuLawToLinear(0x00), -32124},
		{"alaw 0xd5", ALawToLinear(0xd5), 8},
		{"alaw 0x55", ALawToLinear(0x55), -8},
		{"alaw 0xaa", ALawToLinear(0xaa), 32256},
		{"alaw 0x2a", ALawToLinear(0x2a), -32256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %d, want %d", tt.got, tt.want)
			}
		})
	}
}

func TestG711RoundTrip(t *testing.T) {
	codecs := []struct {
		name   string
		enc    func(int16) byte
		dec    func(byte) int16
		silent byte
	}{
		{"PCMU", LinearToMuLaw, MuLawToLinear, 0xff},
		{"PCMA", LinearToALaw, ALawToLinear, 0xd5},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			if got := c.enc(0); got != c.silent {
				t.Errorf("enc(0) = %#x, want %#x", got, c.silent)
			}
			// Every code decodes to a value that encodes back to itself
			// (except µ-law's negative zero 0x7f, which is +0's twin).
			for b := 0; b < 256; b++ {
				if c.name == "PCMU" && b == 0x7f {
					continue
				}
				if got := c.enc(c.dec(byte(b))); got != byte(b) {
					t.Errorf("enc(dec(%#x)) = %#x", b, got)
				}
			}
			// Companding keeps the relative error of a sample small.
			for s := -32768; s <= 32767; s += 7 {
				back := int(c.dec(c.enc(int16(s))))
				tol := math.Max(16, math.Abs(float64(s))/16)
				if math.Abs(float64(back-s)) > tol {
					t.Fatalf("%d -> %d: error over %.0f", s, back, tol)
				}
			}
		})
	}
}

func TestG711SliceCodecsCarryATone(t *testing.T) {
	tone := Sine(1000, 8000, 8000, 0.5)
	for _, c := range []struct {
		name string
		dec  []int16
	}{
		{"PCMU", MuLawDecode(nil, MuLawEncode(nil, tone))},
		{"PCMA", ALawDecode(nil, ALawEncode(nil, tone))},
	} {
		t.Run(c.name, func(t *testing.T) {
			if len(c.dec) != len(tone) {
				t.Fatalf("%d samples, want %d", len(c.dec), len(tone))
			}
			if f := DominantFrequency(c.dec, 8000); math.Abs(f-1000) > 2 {
				t.Errorf("dominant %.1f Hz, want 1000", f)
			}
		})
	}
}

func BenchmarkMuLawDecode(b *testing.B) {
	payload := MuLawEncode(nil, Sine(440, 8000, 160, 0.5))
	dst := make([]int16, 0, 160)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		dst = MuLawDecode(dst[:0], payload)
	}
}
