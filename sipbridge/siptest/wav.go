package siptest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// maxWAVBytes bounds what ReadWAV loads: a test recording of a few
// minutes at 48 kHz stereo is far below it.
const maxWAVBytes = 256 << 20

// ReadWAV reads a 16-bit PCM WAV file (RIFF/WAVE, format 1 or
// WAVE_FORMAT_EXTENSIBLE with a PCM sub-format) and returns its
// interleaved samples, sample rate and channel count.
func ReadWAV(path string) (samples []int16, rate, channels int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("read wav: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxWAVBytes))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("read wav %s: %w", path, err)
	}
	samples, rate, channels, err = ParseWAV(b)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("read wav %s: %w", path, err)
	}
	return samples, rate, channels, nil
}

// ParseWAV decodes a 16-bit PCM WAV held in memory; see [ReadWAV].
//
// A recorder that is still writing (or was killed) leaves the RIFF and
// data sizes at 0 or 0xFFFFFFFF (libsndfile writes them on close), so a
// data chunk of size 0 or one that claims more than the file holds is read
// to the end of the file instead of rejected.
func ParseWAV(b []byte) (samples []int16, rate, channels int, err error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, 0, fmt.Errorf("%w: no RIFF/WAVE header", ErrNotWAV)
	}
	haveFmt := false
	for off := 12; off+8 <= len(b); {
		id := string(b[off : off+4])
		size := int(binary.LittleEndian.Uint32(b[off+4 : off+8]))
		body := off + 8
		end := body + size
		if size < 0 || end > len(b) || end < body || (id == "data" && size == 0) {
			end = len(b)
		}
		switch id {
		case "fmt ":
			if end-body < 16 {
				return nil, 0, 0, fmt.Errorf("%w: fmt chunk of %d bytes", ErrNotWAV, end-body)
			}
			c := b[body:end]
			format := binary.LittleEndian.Uint16(c[0:2])
			channels = int(binary.LittleEndian.Uint16(c[2:4]))
			rate = int(binary.LittleEndian.Uint32(c[4:8]))
			bits := binary.LittleEndian.Uint16(c[14:16])
			// WAVE_FORMAT_EXTENSIBLE: the real format is the first two
			// bytes of the sub-format GUID.
			if format == 0xfffe && len(c) >= 26 {
				format = binary.LittleEndian.Uint16(c[24:26])
			}
			if format != 1 || bits != 16 {
				return nil, 0, 0, fmt.Errorf("%w: format %d, %d bits", ErrNotWAV, format, bits)
			}
			if channels < 1 || channels > 16 || rate < 1 || rate > 1_000_000 {
				return nil, 0, 0, fmt.Errorf("%w: %d channels at %d Hz", ErrNotWAV, channels, rate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, 0, 0, fmt.Errorf("%w: data before fmt", ErrNotWAV)
			}
			d := b[body:end]
			n := len(d) / 2
			n -= n % channels // drop a partial last frame
			samples = make([]int16, n)
			for i := range samples {
				samples[i] = int16(binary.LittleEndian.Uint16(d[2*i:]))
			}
			return samples, rate, channels, nil
		}
		// Chunks are padded to an even size (RIFF).
		off = end + (end-body)&1
	}
	return nil, 0, 0, fmt.Errorf("%w: no data chunk", ErrNotWAV)
}

// EncodeWAV returns interleaved 16-bit samples as a PCM WAV file.
func EncodeWAV(samples []int16, rate, channels int) []byte {
	var buf bytes.Buffer
	data := uint32(2 * len(samples))
	w := func(v any) { _ = binary.Write(&buf, binary.LittleEndian, v) }
	buf.WriteString("RIFF")
	w(36 + data)
	buf.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1)) // PCM
	w(uint16(channels))
	w(uint32(rate))
	w(uint32(rate * channels * 2)) // byte rate
	w(uint16(channels * 2))        // block align
	w(uint16(16))
	buf.WriteString("data")
	w(data)
	w(samples)
	return buf.Bytes()
}

// WriteWAV writes interleaved 16-bit samples to path as a PCM WAV file.
func WriteWAV(path string, samples []int16, rate, channels int) error {
	if err := os.WriteFile(path, EncodeWAV(samples, rate, channels), 0o644); err != nil { //nolint:gosec // the peers run as other users and read their files
		return fmt.Errorf("write wav: %w", err)
	}
	return nil
}

// WriteToneWAV writes a sine tone of hz at rate with the given channel
// count (the same signal on every channel) and duration, at half of full
// scale. baresip's aufile source and Chromium's fake microphone
// (--use-file-for-fake-audio-capture) play such files.
func WriteToneWAV(path string, hz float64, rate, channels int, seconds float64) error {
	mono := Sine(hz, rate, int(seconds*float64(rate)), 0.5)
	out := make([]int16, 0, len(mono)*channels)
	for _, s := range mono {
		for range channels {
			out = append(out, s)
		}
	}
	return WriteWAV(path, out, rate, channels)
}

// Channel returns channel ch (0-based) of interleaved samples.
func Channel(samples []int16, channels, ch int) []int16 {
	if channels <= 1 {
		return samples
	}
	out := make([]int16, 0, len(samples)/channels)
	for i := ch; i < len(samples); i += channels {
		out = append(out, samples[i])
	}
	return out
}
