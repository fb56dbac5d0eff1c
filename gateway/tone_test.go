package gateway

import "math"

// G.711 µ-law (ITU-T G.711 table 2) and a Goertzel tone detector, to check
// the audio itself rather than packet counts.

func ulawDecode(u byte) int16 {
	u = ^u
	t := (int16(u&0x0f) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return 0x84 - t
	}
	return t - 0x84
}

func ulawEncode(s int16) byte {
	const bias, clip = 0x84, 32635
	sign := byte(0)
	v := int(s)
	if v < 0 {
		v, sign = -v, 0x80
	}
	if v > clip {
		v = clip
	}
	v += bias
	exp := byte(7)
	for m := 0x4000; v&m == 0 && exp > 0; m >>= 1 {
		exp--
	}
	mant := byte(v>>(int(exp)+3)) & 0x0f
	return ^(sign | exp<<4 | mant)
}

// toneFrame fills b with µ-law samples of a sine at hz, starting at sample n.
func toneFrame(b []byte, hz float64, n int) {
	for i := range b {
		b[i] = ulawEncode(int16(0.5 * 32767 * math.Sin(2*math.Pi*hz*float64(n+i)/8000)))
	}
}

func goertzel(x []float64, rate, f float64) float64 {
	c := 2 * math.Cos(2*math.Pi*f/rate)
	var s1, s2 float64
	for _, v := range x {
		s0 := v + c*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

// peakHz is the strongest frequency of x in 10 Hz steps.
func peakHz(x []float64, rate float64) int {
	best, bestP := 0, -1.0
	for f := 100; f < int(rate/2); f += 10 {
		if p := goertzel(x, rate, float64(f)); p > bestP {
			best, bestP = f, p
		}
	}
	return best
}
