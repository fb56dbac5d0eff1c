package siptest

import (
	"fmt"
	"math"
)

// Tone detection for recordings and decoded RTP. A Goertzel filter
// (G. Goertzel, "An Algorithm for the Evaluation of Finite Trigonometric
// Series", 1958) measures the power at one frequency in O(n); scanning it
// over the voice band finds the dominant tone without an FFT.

const (
	// minFreq and maxFreq bound the scan: the telephone band and a bit.
	minFreq = 50
	maxFreq = 4000
	// ToneTolerance is the relative error CheckTone accepts (3 %): G.711
	// and resampling move a tone by well under 1 %.
	ToneTolerance = 0.03
	// silenceLevel is the amplitude below which a sample counts as silence
	// (about -30 dBFS).
	silenceLevel = 1000
)

// Sine returns n samples of a sine at hz, sampled at rate, with amplitude
// given as a fraction of full scale (0..1).
func Sine(hz float64, rate, n int, amplitude float64) []int16 {
	out := make([]int16, n)
	a := amplitude * math.MaxInt16
	for i := range out {
		out[i] = int16(math.Round(a * math.Sin(2*math.Pi*hz*float64(i)/float64(rate))))
	}
	return out
}

// Goertzel returns the power of samples at frequency hz (in arbitrary
// units, proportional to the squared amplitude times len(samples)²).
func Goertzel(samples []int16, rate int, hz float64) float64 {
	w := 2 * math.Pi * hz / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range samples {
		s0 := float64(v)/32768 + c*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

// DominantFrequency returns the strongest frequency between 50 and 4000 Hz
// (capped at the Nyquist frequency) in mono samples at rate, to about
// 0.5 Hz. Leading silence (a jitter buffer filling up) and the first
// 100 ms of signal are skipped and at most one second is analysed. It
// returns 0 when the samples hold no signal.
func DominantFrequency(samples []int16, rate int) float64 {
	x := signalWindow(samples, rate)
	if x == nil {
		return 0
	}
	hi := float64(min(maxFreq, rate/2-1))
	// Coarse scan on a 40 ms piece: its main lobe is ±25 Hz wide, so 5 Hz
	// steps cannot step over a tone.
	coarse := x[:min(len(x), rate/25)]
	best, bestP := 0.0, -1.0
	for f := float64(minFreq); f <= hi; f += 5 {
		if p := Goertzel(coarse, rate, f); p > bestP {
			best, bestP = f, p
		}
	}
	// Fine scan on the whole window around the coarse peak.
	centre := best
	bestP = -1
	for f := centre - 10; f <= centre+10; f += 0.5 {
		if f < minFreq || f > hi {
			continue
		}
		if p := Goertzel(x, rate, f); p > bestP {
			best, bestP = f, p
		}
	}
	return best
}

// signalWindow returns up to one second of samples starting 100 ms after
// the first non-silent sample, or nil when fewer than 50 ms remain.
func signalWindow(samples []int16, rate int) []int16 {
	if rate <= 0 {
		return nil
	}
	start := -1
	for i, v := range samples {
		if v > silenceLevel || v < -silenceLevel {
			start = i
			break
		}
	}
	if start < 0 {
		return nil
	}
	start += rate / 10
	if len(samples)-start < rate/20 || start >= len(samples) {
		return nil
	}
	return samples[start:min(len(samples), start+rate)]
}

// RMS returns the root mean square of samples as a fraction of full scale.
func RMS(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, v := range samples {
		f := float64(v) / 32768
		sum += f * f
	}
	return math.Sqrt(sum / float64(len(samples)))
}

// CheckTone reads a WAV recording and checks that its first channel's
// dominant frequency is wantHz within [ToneTolerance]. It returns the
// frequency found; the error wraps [ErrNoSignal] for silence and
// [ErrWrongTone] for another tone.
func CheckTone(path string, wantHz float64) (float64, error) {
	samples, rate, channels, err := ReadWAV(path)
	if err != nil {
		return 0, err
	}
	got := DominantFrequency(Channel(samples, channels, 0), rate)
	if got == 0 {
		return 0, fmt.Errorf("%s (%d samples at %d Hz): %w", path, len(samples)/channels, rate, ErrNoSignal)
	}
	if math.Abs(got-wantHz) > ToneTolerance*wantHz {
		return got, fmt.Errorf("%s: %w: %.1f Hz, want %.1f Hz", path, ErrWrongTone, got, wantHz)
	}
	return got, nil
}

// ToneRun is a stretch of a recording in which one tone was the strongest,
// or silence (Hz 0).
type ToneRun struct {
	Hz float64
	// Windows is how many analysis windows the stretch lasted.
	Windows int
}

// ToneRuns cuts mono samples at rate into windows of window samples,
// names each window by the strongest of tones (Goertzel) or 0 when it is
// silent (RMS below about -30 dBFS), and merges neighbours of one name: the
// order in which the tones were heard and how long. A trailing partial
// window is dropped.
func ToneRuns(samples []int16, rate, window int, tones ...float64) []ToneRun {
	var runs []ToneRun
	if window <= 0 || len(tones) == 0 {
		return nil
	}
	for i := 0; i+window <= len(samples); i += window {
		w := samples[i : i+window]
		hz := 0.0
		if RMS(w) >= silenceLevel/32768.0 {
			best := -1.0
			for _, f := range tones {
				if p := Goertzel(w, rate, f); p > best {
					hz, best = f, p
				}
			}
		}
		if n := len(runs); n > 0 && runs[n-1].Hz == hz {
			runs[n-1].Windows++
			continue
		}
		runs = append(runs, ToneRun{Hz: hz, Windows: 1})
	}
	return runs
}
