package web

import (
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
func directionWord(d string) string {
	switch d {
	case string(monitor.Inbound):
		return "incoming"
	case string(monitor.Outbound):
		return "outgoing"
	case string(monitor.Internal):
		return "internal"
	}
	return d
}

// stateWord names a call's state in words.
func stateWord(s string) string {
	switch s {
	case string(monitor.Ringing):
		return "ringing"
	case string(monitor.Dialing):
		return "calling"
	case string(monitor.Connected):
		return "talking"
	case string(monitor.Held):
		return "on hold"
	}
	return s
}

// clockText is the kiosk clock's first value, before the script ticks.
func clockText(t time.Time) string { return t.Format("15:04") }

// dateText is the kiosk's date line, such as "Tuesday 1 December".
func dateText(t time.Time) string { return t.Format("Monday 2 January") }

// figureSeconds shows seconds of a figure as m:ss.
func figureSeconds(sec int64) string { return formatSeconds(sec) }

// rateText shows an answer rate; a dash without inbound calls.
func rateText(r *int) string {
	if r == nil {
		return "–"
	}
	return strconv.Itoa(*r) + " %"
}

// rateValue is an answer rate for data attributes; empty without one.
func rateValue(r *int) string {
	if r == nil {
		return ""
	}
	return strconv.Itoa(*r)
}

// callsSplit is a figure's "12 in · 7 out" line.
func callsSplit(f Figures) string {
	s := fmt.Sprintf("%d in · %d out", f.Inbound, f.Outbound)
	if f.Internal > 0 {
		s += fmt.Sprintf(" · %d internal", f.Internal)
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
func hourTitle(b chartBar) string {
	return fmt.Sprintf("%02d:00–%02d:59: %d calls, %d missed", b.Hour, b.Hour, b.Calls, b.Missed)
}

// longNumber marks a number too long for a call card's big type (an
// international number, a SIP address): it gets type that fits the card.
// static/wallboard.js has the same rule.
func longNumber(n string) bool { return utf8.RuneCountInString(n) > 13 }
