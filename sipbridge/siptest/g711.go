package siptest

// G.711 (ITU-T G.711, 1988) companding, as carried by RTP payload types 0
// (PCMU, µ-law) and 8 (PCMA, A-law) per RFC 3551 section 4.5.14. Tests use
// it to turn captured RTP payloads into samples for [DominantFrequency] and
// to build payloads carrying a known tone.

const (
	muLawBias = 0x84 // 132: µ-law adds it before taking the segment
	muLawClip = 32635
)

// MuLawToLinear decodes one µ-law byte to a 16-bit linear sample.
func MuLawToLinear(u byte) int16 {
	u = ^u
	t := (int(u&0x0f) << 3) + muLawBias
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(muLawBias - t)
	}
	return int16(t - muLawBias)
}

// LinearToMuLaw encodes one 16-bit linear sample as a µ-law byte.
func LinearToMuLaw(s int16) byte {
	v := int(s)
	var sign byte
	if v < 0 {
		v = -v
		sign = 0x80
	}
	if v > muLawClip {
		v = muLawClip
	}
	v += muLawBias
	exp := byte(7)
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := byte(v>>(exp+3)) & 0x0f
	return ^(sign | exp<<4 | mant)
}

// ALawToLinear decodes one A-law byte to a 16-bit linear sample.
func ALawToLinear(a byte) int16 {
	a ^= 0x55
	t := int(a&0x0f) << 4
	seg := (a & 0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// LinearToALaw encodes one 16-bit linear sample as an A-law byte.
func LinearToALaw(s int16) byte {
	v := int(s) >> 3 // A-law works on 13 significant bits
	mask := byte(0xd5)
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	// Segment ends for the 13-bit magnitude.
	seg := byte(0)
	for end := 0x1f; seg < 8 && v > end; end = end<<1 | 1 {
		seg++
	}
	if seg >= 8 {
		return 0x7f ^ mask
	}
	var a byte
	if seg < 2 {
		a = byte(v>>1) & 0x0f
	} else {
		a = byte(v>>seg) & 0x0f
	}
	return (seg<<4 | a) ^ mask
}

// MuLawDecode decodes a PCMU payload into dst (grown as needed) and returns it.
func MuLawDecode(dst []int16, payload []byte) []int16 {
	for _, b := range payload {
		dst = append(dst, MuLawToLinear(b))
	}
	return dst
}

// MuLawEncode encodes samples as PCMU, appending to dst.
func MuLawEncode(dst []byte, samples []int16) []byte {
	for _, s := range samples {
		dst = append(dst, LinearToMuLaw(s))
	}
	return dst
}

// ALawDecode decodes a PCMA payload into dst (grown as needed) and returns it.
func ALawDecode(dst []int16, payload []byte) []int16 {
	for _, b := range payload {
		dst = append(dst, ALawToLinear(b))
	}
	return dst
}

// ALawEncode encodes samples as PCMA, appending to dst.
func ALawEncode(dst []byte, samples []int16) []byte {
	for _, s := range samples {
		dst = append(dst, LinearToALaw(s))
	}
	return dst
}
