package fritz

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// Kind is the event a call-monitor line reports.
type Kind string

// Kinds, as the AVM call monitor spells them.
const (
	// KindRing: an inbound call rings.
	KindRing Kind = "RING"
	// KindCall: an extension dials out.
	KindCall Kind = "CALL"
	// KindConnect: the call was answered.
	KindConnect Kind = "CONNECT"
	// KindDisconnect: the call ended.
	KindDisconnect Kind = "DISCONNECT"
)

// MaxLineLength bounds one line; a real line is well under 200 bytes.
const MaxLineLength = 1024

// DateLayout is the layout of the first field of every line (dd.mm.yy
// hh:mm:ss, the router's local time).
const DateLayout = "02.01.06 15:04:05"

// Line is one parsed call-monitor line. Which fields are set depends on
// Kind; the AVM format is
//
//	date;RING;id;caller;called;line;
//	date;CALL;id;ext;caller;called;line;
//	date;CONNECT;id;ext;number;
//	date;DISCONNECT;id;seconds;
type Line struct {
	// Time is the line's date in the parser's location.
	Time time.Time
	Kind Kind
	// ID is the connection id, the key of the call while it lasts; the
	// router reuses ids once a call has ended.
	ID string
	// Ext is the extension (Fritz port: 0-2 analogue, 10-19 DECT, 20-29
	// IP phones, 40-49 ISDN) that dialled (CALL) or answered (CONNECT).
	Ext string
	// Caller is the calling number: the remote party for RING, our own
	// number for CALL. Empty when the caller ID is withheld.
	Caller string
	// Called is the called number: our number for RING, the dialled
	// number for CALL.
	Called string
	// Number is the remote number of a CONNECT.
	Number string
	// Account is the line the call uses (SIP0, SIP1, POTS, ISDN, ...).
	Account string
	// Seconds is the talk time a DISCONNECT reports.
	Seconds int
}

// fieldCounts is the number of fields of each kind, the date and kind
// included, without the empty field after the trailing ';'.
var fieldCounts = map[Kind]int{
	KindRing:       6,
	KindCall:       7,
	KindConnect:    5,
	KindDisconnect: 4,
}

// ParseLine parses one call-monitor line. It tolerates a trailing CR LF,
// a missing trailing ';', spaces around the line and its fields and empty
// fields after the last one; anything else is an error wrapping
// ErrMalformed or ErrUnknownKind. A nil loc means time.Local. ParseLine
// does no I/O and never keeps b.
func ParseLine(b []byte, loc *time.Location) (Line, error) {
	if loc == nil {
		loc = time.Local
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return Line{}, fmt.Errorf("%w: empty line", ErrMalformed)
	}
	if len(b) > MaxLineLength {
		return Line{}, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(b), MaxLineLength)
	}
	var f [8][]byte
	n := 0
	for rest := b; ; {
		i := bytes.IndexByte(rest, ';')
		field := rest
		if i >= 0 {
			field = rest[:i]
		}
		field = bytes.TrimSpace(field)
		if n < len(f) {
			f[n] = field
		} else if len(field) > 0 {
			return Line{}, fmt.Errorf("%w: more than %d fields", ErrMalformed, len(f))
		}
		n++
		if i < 0 {
			break
		}
		rest = rest[i+1:]
	}
	// Drop empty trailing fields: the terminating ';' leaves one, and
	// some firmware versions pad with more.
	for n > 0 && (n > len(f) || len(f[n-1]) == 0) {
		n--
	}
	if n < 2 {
		return Line{}, fmt.Errorf("%w: %d fields, want at least 4", ErrMalformed, n)
	}
	kind := Kind(f[1])
	want, ok := fieldCounts[kind]
	if !ok {
		return Line{}, fmt.Errorf("%w: %q", ErrUnknownKind, truncate(f[1]))
	}
	// Fields after the id may be empty (a withheld caller ID leaves the
	// caller field empty), so the trailing-empty trim above may have
	// eaten some: only more fields than the kind has is an error.
	if n > want {
		return Line{}, fmt.Errorf("%w: %s with %d fields, want %d", ErrMalformed, kind, n, want)
	}
	if n < 3 {
		return Line{}, fmt.Errorf("%w: %s without connection id", ErrMalformed, kind)
	}
	if kind == KindDisconnect && n < want {
		return Line{}, fmt.Errorf("%w: DISCONNECT without duration", ErrMalformed)
	}
	at, err := parseDate(f[0], loc)
	if err != nil {
		return Line{}, err
	}
	if !digits(f[2]) || len(f[2]) > 9 {
		return Line{}, fmt.Errorf("%w: connection id %q", ErrMalformed, truncate(f[2]))
	}
	l := Line{Time: at, Kind: kind, ID: string(f[2])}
	switch kind {
	case KindRing:
		l.Caller, l.Called, l.Account = string(f[3]), string(f[4]), string(f[5])
	case KindCall:
		l.Ext, l.Caller, l.Called, l.Account = string(f[3]), string(f[4]), string(f[5]), string(f[6])
	case KindConnect:
		l.Ext, l.Number = string(f[3]), string(f[4])
	case KindDisconnect:
		s, err := strconv.Atoi(string(f[3]))
		if err != nil || s < 0 || !digits(f[3]) {
			return Line{}, fmt.Errorf("%w: duration %q", ErrMalformed, truncate(f[3]))
		}
		l.Seconds = s
	}
	return l, nil
}

// parseDate parses DateLayout by hand: time.ParseInLocation accepts
// single-digit fields and allocates, and this runs for every line.
func parseDate(b []byte, loc *time.Location) (time.Time, error) {
	// dd.mm.yy hh:mm:ss
	// 0123456789012345 6
	if len(b) != len(DateLayout) || b[2] != '.' || b[5] != '.' || b[8] != ' ' || b[11] != ':' || b[14] != ':' {
		return time.Time{}, fmt.Errorf("%w: date %q, want dd.mm.yy hh:mm:ss", ErrMalformed, truncate(b))
	}
	var v [6]int
	for i, pos := range [6]int{0, 3, 6, 9, 12, 15} {
		hi, lo := b[pos], b[pos+1]
		if hi < '0' || hi > '9' || lo < '0' || lo > '9' {
			return time.Time{}, fmt.Errorf("%w: date %q, want dd.mm.yy hh:mm:ss", ErrMalformed, truncate(b))
		}
		v[i] = int(hi-'0')*10 + int(lo-'0')
	}
	day, month, year, hour, minute, sec := v[0], v[1], 2000+v[2], v[3], v[4], v[5]
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 ||
		day > daysIn(time.Month(month), year) {
		return time.Time{}, fmt.Errorf("%w: date %q out of range", ErrMalformed, truncate(b))
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, loc), nil
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func digits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// truncate keeps error messages short whatever the peer sends.
func truncate(b []byte) string {
	const max = 40
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

// String formats l back into the AVM line format, with the trailing ';'
// and without a line ending, in l.Time's location.
func (l Line) String() string {
	d := l.Time.Format(DateLayout)
	switch l.Kind {
	case KindRing:
		return d + ";RING;" + l.ID + ";" + l.Caller + ";" + l.Called + ";" + l.Account + ";"
	case KindCall:
		return d + ";CALL;" + l.ID + ";" + l.Ext + ";" + l.Caller + ";" + l.Called + ";" + l.Account + ";"
	case KindConnect:
		return d + ";CONNECT;" + l.ID + ";" + l.Ext + ";" + l.Number + ";"
	case KindDisconnect:
		return d + ";DISCONNECT;" + l.ID + ";" + strconv.Itoa(l.Seconds) + ";"
	}
	return d + ";" + string(l.Kind) + ";" + l.ID + ";"
}
