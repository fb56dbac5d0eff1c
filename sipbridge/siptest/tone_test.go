package siptest

import (
	"errors"
	"math"
	"path/filepath"
	"testing"
)

func TestDominantFrequency(t *testing.T) {
	tests := []struct {
		name string
		hz   float64
		rate int
		lead int // samples of leading silence
	}{
		{"440 at 8k", 440, 8000, 0},
		{"1000 at 8k", 1000, 8000, 0},
		{"1500 at 16k", 1500, 16000, 0},
		{"3300 at 8k", 3300, 8000, 0},
		{"440 at 48k after silence", 440, 48000, 24000},
		{"1000 at 44.1k", 1000, 44100, 100},
		{"62.5 at 8k", 62.5, 8000, 0},
		{"1234.5 at 8k", 1234.5, 8000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := append(make([]int16, tt.lead), Sine(tt.hz, tt.rate, tt.rate, 0.3)...)
			got := DominantFrequency(s, tt.rate)
			if math.Abs(got-tt.hz) > 1 {
				t.Errorf("got %.2f Hz, want %.2f", got, tt.hz)
			}
		})
	}
}

func TestDominantFrequencyPicksTheStrongerTone(t *testing.T) {
	a := Sine(440, 8000, 8000, 0.1)
	b := Sine(1000, 8000, 8000, 0.4)
	mix := make([]int16, len(a))
	for i := range a {
		mix[i] = a[i] + b[i]
	}
	if got := DominantFrequency(mix, 8000); math.Abs(got-1000) > 1 {
		t.Errorf("got %.1f Hz, want 1000", got)
	}
}

func TestDominantFrequencyNoSignal(t *testing.T) {
	tests := []struct {
		name    string
		samples []int16
		rate    int
	}{
		{"empty", nil, 8000},
		{"silence", make([]int16, 8000), 8000},
		{"too short", Sine(440, 8000, 1000, 0.5), 8000},
		{"bad rate", Sine(440, 8000, 8000, 0.5), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DominantFrequency(tt.samples, tt.rate); got != 0 {
				t.Errorf("got %.1f Hz, want 0", got)
			}
		})
	}
}

func TestCheckTone(t *testing.T) {
	dir := t.TempDir()
	stereo := filepath.Join(dir, "stereo.wav")
	if err := WriteToneWAV(stereo, 1000, 48000, 2, 1); err != nil {
		t.Fatal(err)
	}
	silent := filepath.Join(dir, "silent.wav")
	if err := WriteWAV(silent, make([]int16, 8000), 8000, 1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		want    float64
		wantErr error
	}{
		{"match", stereo, 1000, nil},
		{"within tolerance", stereo, 1020, nil},
		{"wrong tone", stereo, 440, ErrWrongTone},
		{"silence", silent, 440, ErrNoSignal},
		{"not wav", filepath.Join("testdata", "not.wav"), 440, ErrNotWAV},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckTone(tt.path, tt.want)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestRMS(t *testing.T) {
	if got := RMS(Sine(440, 8000, 8000, 0.5)); math.Abs(got-0.5/math.Sqrt2) > 0.01 {
		t.Errorf("RMS = %.3f, want %.3f", got, 0.5/math.Sqrt2)
	}
	if got := RMS(nil); got != 0 {
		t.Errorf("RMS(nil) = %v", got)
	}
}

// BenchmarkDominantFrequency measures one analysis of a one-second 8 kHz
// recording, what a call test does per direction.
func BenchmarkDominantFrequency(b *testing.B) {
	s := Sine(1000, 8000, 16000, 0.5)
	b.ReportAllocs()
	for b.Loop() {
		_ = DominantFrequency(s, 8000)
	}
}

func TestToneRuns(t *testing.T) {
	const rate = 8000
	var s []int16
	s = append(s, make([]int16, rate/10)...)
	s = append(s, Sine(440, rate, rate/2, 0.3)...)
	s = append(s, make([]int16, rate/4)...)
	s = append(s, Sine(550, rate, rate/2, 0.3)...)
	s = append(s, 1, 2, 3) // partial window
	got := ToneRuns(s, rate, rate/20, 440, 550, 700)
	want := []ToneRun{{0, 2}, {440, 10}, {0, 5}, {550, 10}}
	if len(got) != len(want) {
		t.Fatalf("runs %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("runs %v, want %v", got, want)
		}
	}
	if r := ToneRuns(s, rate, 0, 440); r != nil {
		t.Errorf("zero window: %v", r)
	}
}
