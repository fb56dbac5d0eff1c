package siptest

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWAVRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		rate     int
		channels int
	}{
		{"8k mono", 8000, 1},
		{"48k stereo", 48000, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Sine(440, tt.rate, 200*tt.channels, 0.5)
			path := filepath.Join(t.TempDir(), "x.wav")
			if err := WriteWAV(path, in, tt.rate, tt.channels); err != nil {
				t.Fatal(err)
			}
			out, rate, ch, err := ReadWAV(path)
			if err != nil {
				t.Fatal(err)
			}
			if rate != tt.rate || ch != tt.channels || !slices.Equal(in, out) {
				t.Errorf("got %d Hz %d ch %d samples, want %d Hz %d ch %d samples",
					rate, ch, len(out), tt.rate, tt.channels, len(in))
			}
		})
	}
}

func TestParseWAV(t *testing.T) {
	good := EncodeWAV([]int16{1, -2, 3, -4}, 8000, 2)
	// A recorder that never closed its file: sizes left at 0xFFFFFFFF.
	streaming := slices.Clone(good)
	binary.LittleEndian.PutUint32(streaming[4:], 0xffffffff)
	binary.LittleEndian.PutUint32(streaming[40:], 0xffffffff)
	open := slices.Clone(good)
	binary.LittleEndian.PutUint32(open[4:], 0)
	binary.LittleEndian.PutUint32(open[40:], 0)
	// An extra chunk of odd size before data, padded per RIFF.
	withList := slices.Concat(good[:36], []byte("LIST\x03\x00\x00\x00abc\x00"), good[36:])
	eightBit := slices.Clone(good)
	binary.LittleEndian.PutUint16(eightBit[34:], 8)
	tests := []struct {
		name    string
		in      []byte
		want    []int16
		wantErr error
	}{
		{"good", good, []int16{1, -2, 3, -4}, nil},
		{"streaming sizes", streaming, []int16{1, -2, 3, -4}, nil},
		{"sizes still zero", open, []int16{1, -2, 3, -4}, nil},
		{"odd chunk", withList, []int16{1, -2, 3, -4}, nil},
		{"partial frame dropped", good[:len(good)-2], []int16{1, -2}, nil},
		{"empty", nil, nil, ErrNotWAV},
		{"not riff", []byte("RIFX\x00\x00\x00\x00WAVE"), nil, ErrNotWAV},
		{"8 bit", eightBit, nil, ErrNotWAV},
		{"no data", good[:36], nil, ErrNotWAV},
		{"data before fmt", slices.Concat(good[:12], good[36:]), nil, ErrNotWAV},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, _, err := ParseWAV(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("samples = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestChannel(t *testing.T) {
	in := []int16{1, 2, 3, 4, 5, 6}
	if got := Channel(in, 2, 1); !slices.Equal(got, []int16{2, 4, 6}) {
		t.Errorf("Channel(2,1) = %v", got)
	}
	if got := Channel(in, 1, 0); !slices.Equal(got, in) {
		t.Errorf("Channel(1,0) = %v", got)
	}
}

// FuzzParseWAV feeds arbitrary bytes to the WAV parser: it must never
// panic, and what it accepts must be whole frames.
func FuzzParseWAV(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.wav"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add(EncodeWAV(Sine(440, 8000, 16, 0.5), 8000, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, rate, ch, err := ParseWAV(b)
		if err != nil {
			return
		}
		if rate < 1 || ch < 1 || len(s)%ch != 0 {
			t.Fatalf("accepted rate %d channels %d samples %d", rate, ch, len(s))
		}
	})
}
