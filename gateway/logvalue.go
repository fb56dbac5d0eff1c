package gateway

import (
	"errors"
	"strconv"

	"github.com/switchboard/switchboard/monitor"
)

// maxLogID bounds a value the page chose (a call id, a message type) in a
// log line or an error: a page can send ids of any length.
const maxLogID = 64

// clipID is id cut to maxLogID bytes, its full length noted.
func clipID(id monitor.CallID) string {
	if len(id) <= maxLogID {
		return string(id)
	}
	return string(id[:maxLogID]) + "… (" + strconv.Itoa(len(id)) + " bytes)"
}

// pageFault reports whether err is the page's own doing (a request the
// page should not have sent, or one a cap refused), logged at Debug.
func pageFault(err error) bool {
	for _, e := range []error{ErrNoSuchCall, ErrCallState, ErrBusy, ErrNotAllowed, ErrLimit, ErrBadMessage} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
