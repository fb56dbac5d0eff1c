package web

import (
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

func statusTitle(status int) string {
	return fmt.Sprintf("%d %s", status, http.StatusText(status))
}

func actionLabel(a string) string {
	switch a {
	case "hangup":
		return "Hang up"
	case "transfer":
		return "Transfer"
	}
	return title(a)
}

// partyText shows a party as "number (name)".
func partyText(p PartyView) string {
	if p.Name == "" {
		return p.Number
	}
	return p.Number + " (" + p.Name + ")"
}

func summary(from, to, total int) string {
	return fmt.Sprintf("Calls %d–%d of %d", from, to, total)
}
