package sipbridge

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// subState is a parsed Subscription-State header (RFC 6665 section
// 8.2.3 and 4.1.3): the subscription's state, and for a terminated one
// why and when to try again.
type subState struct {
	// State is active, pending or terminated (an extension value is
	// refused: RFC 6665 section 4.1.3 has the subscriber treat it as
	// active, which is what the caller does with an error).
	State string
	// Reason is the reason parameter of a terminated subscription
	// (deactivated, probation, rejected, timeout, giveup, noresource,
	// invariant), lower case; empty when none was given.
	Reason string
	// Expires is the expires parameter in seconds, -1 when absent.
	Expires int
	// RetryAfter is the retry-after parameter in seconds, -1 when absent.
	RetryAfter int
}

// Subscription states.
const (
	subActive     = "active"
	subPending    = "pending"
	subTerminated = "terminated"
)

// ErrBadSubscriptionState is wrapped by every error of
// parseSubscriptionState.
var ErrBadSubscriptionState = errors.New("malformed subscription-state header")

// maxSubSeconds bounds expires and retry-after: larger values (a week is
// already absurd for a dialog subscription) are read as this.
const maxSubSeconds = 7 * 24 * 3600

// parseSubscriptionState parses a Subscription-State value such as
// "active;expires=600" or "terminated;reason=deactivated;retry-after=5".
// Parameter names and the state are case-insensitive; unknown parameters
// are skipped.
func parseSubscriptionState(v string) (subState, error) {
	st := subState{Expires: -1, RetryAfter: -1}
	parts := strings.Split(v, ";")
	st.State = strings.ToLower(strings.TrimSpace(parts[0]))
	switch st.State {
	case subActive, subPending, subTerminated:
	case "":
		return subState{}, fmt.Errorf("%w: no state", ErrBadSubscriptionState)
	default:
		return subState{}, fmt.Errorf("%w: state %q", ErrBadSubscriptionState, clipText(st.State))
	}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(p, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch k {
		case "reason":
			st.Reason = strings.ToLower(clipText(val))
		case "expires", "retry-after":
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return subState{}, fmt.Errorf("%w: %s=%q is not a number of seconds", ErrBadSubscriptionState, k, clipText(val))
			}
			secs := int(min(n, maxSubSeconds))
			if k == "expires" {
				st.Expires = secs
			} else {
				st.RetryAfter = secs
			}
		}
	}
	return st, nil
}
