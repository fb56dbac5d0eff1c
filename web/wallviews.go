package web

import (
	"context"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/switchboard/switchboard/monitor"
)

// ResultView is how a call ended, as the wallboard shows it: a word in
// plain language and its kind, which gives it its colour and icon
// (static/app.css: .res-KIND). static/wallboard.js has the same table.
type ResultView struct {
	Word string
	Kind string
}

// resultOf says how c ended. A call someone answered reads "answered"
// also when its link was lost afterwards: the conversation took place.
func resultOf(c monitor.Call) ResultView {
	answered := !c.Answered.IsZero()
	inbound := c.Direction == monitor.Inbound
	switch c.Reason {
	case monitor.ReasonCompleted:
		return ResultView{"answered", "answered"}
	case monitor.ReasonNoAnswer, monitor.ReasonCancelled:
		if inbound {
			return ResultView{"missed", "missed"}
		}
		return ResultView{"no answer", "noanswer"}
	case monitor.ReasonBusy:
		return ResultView{"busy", "busy"}
	case monitor.ReasonRejected:
		return ResultView{"declined", "declined"}
	case monitor.ReasonAbandoned:
		return ResultView{"abandoned", "abandoned"}
	case monitor.ReasonAnsweredElsewhere:
		return ResultView{"answered elsewhere", "elsewhere"}
	case monitor.ReasonFailed:
		if answered {
			return ResultView{"answered", "answered"}
		}
		return ResultView{"failed", "failed"}
	}
	switch {
	case answered:
		return ResultView{"answered", "answered"}
	case c.Missed():
		return ResultView{"missed", "missed"}
	}
	return ResultView{"ended", "ended"}
}

// directionWord names a direction in words.
func directionWord(ctx context.Context, d string) string {
	switch d {
	case string(monitor.Inbound), string(monitor.Outbound), string(monitor.Internal):
		return T(ctx, "direction."+d)
	}
	return d
}

// stateWord names a call's state in words.
func stateWord(ctx context.Context, s string) string {
	switch s {
	case string(monitor.Ringing), string(monitor.Dialing), string(monitor.Connected), string(monitor.Held):
		return T(ctx, "state."+s)
	}
	return s
}

// resultWord names how a call ended (ResultView.Kind) in words.
func resultWord(ctx context.Context, r ResultView) string {
	if r.Kind == "" {
		return ""
	}
	return T(ctx, "result."+r.Kind)
}

// sourceStateWord names a source's link state in words.
func sourceStateWord(ctx context.Context, state string) string {
	switch monitor.LinkState(state) {
	case monitor.LinkConnecting, monitor.LinkConnected, monitor.LinkResyncing, monitor.LinkDown, monitor.LinkStopped,
		monitor.LinkRegistering, monitor.LinkRegistered, monitor.LinkFailed, monitor.LinkRetrying:
		return T(ctx, "link."+state)
	}
	return state
}

// clockText is the kiosk clock's first value, before the script ticks.
func clockText(t time.Time) string { return t.Format("15:04") }

// dateText is the kiosk's date line, such as "Tuesday 1 December" or
// "Dienstag, 1. Dezember".
func dateText(ctx context.Context, t time.Time) string {
	return T(ctx, "format.kiosk_date", "Weekday", T(ctx, fmt.Sprintf("format.weekday%d", int(t.Weekday()))),
		"Day", t.Day(), "Month", T(ctx, fmt.Sprintf("format.month%d", int(t.Month()))))
}

// figureSeconds shows seconds of a figure as m:ss.
func figureSeconds(sec int64) string { return formatSeconds(sec) }

// rateText shows an answer rate; a dash without inbound calls.
func rateText(ctx context.Context, r *int) string {
	if r == nil {
		return "–"
	}
	return T(ctx, "figures.rate", "Rate", LocaleFrom(ctx).Int(*r))
}

// rateValue is an answer rate for data attributes; empty without one.
func rateValue(r *int) string {
	if r == nil {
		return ""
	}
	return strconv.Itoa(*r)
}

// callsSplit is a figure's "12 in · 7 out" line.
func callsSplit(ctx context.Context, f Figures) string {
	s := T(ctx, "figures.split", "In", f.Inbound, "Out", f.Outbound)
	if f.Internal > 0 {
		s += T(ctx, "figures.split_internal", "Internal", f.Internal)
	}
	return s
}

// chartBar is one hour's bar of the calls-per-hour chart, in the SVG's
// own units (viewBox 0 0 240 64; bars stand on y = 52).
type chartBar struct {
	Hour                      int
	Calls, Missed             int
	X, Y, H, MissedY, MissedH float64
}

// Chart geometry, shared with wallboard.js.
const (
	chartBase   = 52.0
	chartHeight = 48.0
)

// chartBars lays the hours out; an empty day has no bars.
func chartBars(hours []HourCount) []chartBar {
	top := 0
	for _, h := range hours {
		top = max(top, h.Calls)
	}
	var out []chartBar
	if top == 0 {
		return out
	}
	for _, h := range hours {
		if h.Calls == 0 {
			continue
		}
		hh := chartHeight * float64(h.Calls) / float64(top)
		mh := chartHeight * float64(h.Missed) / float64(top)
		out = append(out, chartBar{Hour: h.Hour, Calls: h.Calls, Missed: h.Missed,
			X: float64(h.Hour)*10 + 1, Y: chartBase - hh, H: hh, MissedY: chartBase - mh, MissedH: mh})
	}
	return out
}

// svgNum writes a coordinate for an SVG attribute.
func svgNum(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

// hourLabel marks an hour on the chart's axis.
func hourLabel(h int) string { return fmt.Sprintf("%02d", h) }

// hourTitle is a bar's tooltip.
func hourTitle(ctx context.Context, b chartBar) string {
	return T(ctx, "figures.hour_title", "Hour", fmt.Sprintf("%02d", b.Hour), "Calls", b.Calls, "Missed", b.Missed)
}

// longNumber marks a number too long for a call card's big type (an
// international number, a SIP address): it gets type that fits the card.
// static/wallboard.js has the same rule.
func longNumber(n string) bool { return utf8.RuneCountInString(n) > 13 }
