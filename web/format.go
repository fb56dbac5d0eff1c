package web

import (
	"context"
	"fmt"
	"net/http"
)

// pageTitle is the document title.
func pageTitle(t string) string {
	if t == "" {
		return "Switchboard"
	}
	return t + " · Switchboard"
}

// statusTitle is an error page's heading: the status and its name in the
// request's language.
func statusTitle(ctx context.Context, status int) string {
	return fmt.Sprintf("%d %s", status, statusText(ctx, status))
}

// statusText names an HTTP status in the request's language; one the
// catalogue has no words for keeps its English name.
func statusText(ctx context.Context, status int) string {
	if l := LocaleFrom(ctx); l != nil {
		if s := l.T(fmt.Sprintf("status.s%d", status)); s[0] != missingMark[0] {
			return s
		}
	}
	return http.StatusText(status)
}

// actionLabel names a call-control action on a call card.
func actionLabel(ctx context.Context, a string) string {
	return T(ctx, "action."+a)
}

// partyText shows a party as "number (name)".
func partyText(p PartyView) string {
	if p.Name == "" {
		return p.Number
	}
	return p.Number + " (" + p.Name + ")"
}

// summary is the history's "Calls 1–50 of 230".
func summary(ctx context.Context, from, to, total int) string {
	l := LocaleFrom(ctx)
	return l.T("history.summary", "From", l.Int(from), "To", l.Int(to), "Total", l.Int(total))
}

// boolText is a boolean for an ARIA attribute.
func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
