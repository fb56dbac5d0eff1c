package web

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxLogValue is the most bytes of a client's value a log line carries.
const maxLogValue = 64

// clip is the one way a value a client chose — a user name, a path, an
// Origin, an id — goes into a log line: at most maxLogValue bytes of it,
// cut at a character boundary and marked with its full length, invalid
// UTF-8 replaced. Whoever sends a megabyte gets 64 bytes of log for it.
func clip(s string) string {
	if len(s) <= maxLogValue && utf8.ValidString(s) {
		return s
	}
	n := len(s)
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxLogValue {
		return s
	}
	cut := maxLogValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(n) + " bytes)"
}
