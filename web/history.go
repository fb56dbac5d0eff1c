package web

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/history"
)

// dateLayout is how the history's date range is written, in the query
// string and in the date inputs: the display zone's calendar days.
const dateLayout = "2006-01-02"

// historyParams are the query parameters of a history search, kept by
// the pager, the range links and the CSV link (offset and limit aside).
var historyParams = []string{"number", "source", "outcome", "from", "to"}

// historyFilter reads the history search from a query string: number,
// source, outcome, and from and to, days in the display zone (both
// included); limit and offset are clamped to the store's bounds.
func (s *Server) historyFilter(q url.Values) (history.Filter, error) {
	f := history.Filter{
		Number:  strings.TrimSpace(q.Get("number")),
		Source:  monitor.SourceName(q.Get("source")),
		Outcome: history.Outcome(q.Get("outcome")),
	}
	switch f.Outcome {
	case history.OutcomeAny, history.OutcomeMissed, history.OutcomeAnswered:
	default:
		return f, problem(ErrBadRequest, "error.outcome", "Outcome", clip(string(f.Outcome)))
	}
	if len(f.Number) > 64 {
		return f, problem(ErrBadRequest, "error.number_long")
	}
	from, err := s.dayParam(q, "from")
	if err != nil {
		return f, err
	}
	to, err := s.dayParam(q, "to")
	if err != nil {
		return f, err
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return f, problem(ErrBadRequest, "error.range_order", "To", clip(q.Get("to")), "From", clip(q.Get("from")))
	}
	f.Since = from
	if !to.IsZero() {
		// The end of that day is the start of the next; AddDate keeps it
		// right across a change of the clocks.
		f.Until = to.AddDate(0, 0, 1)
	}
	if f.Limit, err = intParam(q, "limit", history.DefaultLimit, 1, history.MaxLimit); err != nil {
		return f, err
	}
	if f.Offset, err = intParam(q, "offset", 0, 0, math.MaxInt32); err != nil {
		return f, err
	}
	return f, nil
}

// dayParam reads a day (2006-01-02) of the display zone and returns its
// first instant; zero when the parameter is empty.
func (s *Server) dayParam(q url.Values, name string) (time.Time, error) {
	v := strings.TrimSpace(q.Get(name))
	if v == "" {
		return time.Time{}, nil
	}
	d, err := time.ParseInLocation(dateLayout, v, s.loc)
	if err != nil {
		return time.Time{}, problem(ErrBadRequest, "error.bad_date", "Name", name, "Value", clip(v))
	}
	return d, nil
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, problem(ErrBadRequest, "error.bad_int", "Name", name, "Value", clip(s), "Lo", lo, "Hi", hi)
	}
	return n, nil
}

// canDial reports whether the signed-in user may call a number from the
// softphone: the gateway runs, and the user has a softphone account.
func (s *Server) canDial(r *http.Request) bool {
	u, ok := UserFrom(r.Context())
	return ok && s.deps.Phone != nil && u.Role.Allows(RoleUser) && len(u.Accounts) > 0
}

// dialURL opens the softphone page with number in its dial field.
func dialURL(number string) string {
	return "/softphone?" + url.Values{"dial": {number}}.Encode()
}

// dialNumber is the number to call a party back on, without the spaces
// and brackets it may be written with (0170 1234567, (030) 123-45);
// empty when there is none (withheld, unknown) or it is nothing the
// softphone dials.
func dialNumber(p monitor.Party) string {
	n := strings.TrimSpace(p.Number)
	if n == "" || p.Private {
		return ""
	}
	if compact := phoneSeparators.Replace(n); strings.Trim(compact, "+0123456789*#") == "" {
		n = compact
	}
	if !dialable.MatchString(n) {
		return ""
	}
	return n
}

// phoneSeparators are what a telephone number is written with between
// its digits.
var phoneSeparators = strings.NewReplacer(" ", "", "\u00a0", "", "(", "", ")", "", "-", "", "/", "", ".", "")

func (s *Server) historyPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	now := s.now()
	v := HistoryView{
		Meta: s.meta(r, T(r.Context(), "history.title"), "history"),
		Query: HistoryQuery{Number: q.Get("number"), Source: q.Get("source"), Outcome: q.Get("outcome"),
			From: q.Get("from"), To: q.Get("to")},
		Ranges: historyRanges(LocaleFrom(r.Context()), q, now),
		Zone:   s.zone,
	}
	for _, st := range s.deps.Hub.Snapshot().Sources() {
		v.Sources = append(v.Sources, string(st.Name))
	}
	f, err := s.historyFilter(q)
	switch {
	case err != nil:
		v.Error = Say(r.Context(), err)
	case s.deps.History == nil:
		v.Error = T(r.Context(), "history.none_kept")
	default:
		page, err := s.deps.History.Query(r.Context(), f)
		if err != nil {
			s.log.Error("history query", "err", err)
			v.Error = T(r.Context(), "history.failed")
			break
		}
		dial := s.canDial(r)
		for _, c := range page.Calls {
			row := HistoryRow{CallView: callView(LocaleFrom(r.Context()), c, now, nil)}
			if dial {
				row.FromDial, row.ToDial = dialNumber(c.From), dialNumber(c.To)
			}
			v.Rows = append(v.Rows, row)
		}
		v.Total = page.Total
		if len(v.Rows) > 0 {
			v.From, v.To = f.Offset+1, f.Offset+len(v.Rows)
		}
		if f.Offset > 0 {
			v.PrevURL = historyURL("/history", q, max(0, f.Offset-f.Limit), true)
		}
		if f.Offset+len(v.Rows) < page.Total {
			v.NextURL = historyURL("/history", q, f.Offset+f.Limit, true)
		}
		if page.Total > 0 {
			v.CSVURL = historyURL("/history.csv", q, 0, false)
		}
	}
	s.render(w, r, http.StatusOK, HistoryPage(v))
	return nil
}

// historyURL is path with the search of q, at offset; with the page size
// when paged.
func historyURL(path string, q url.Values, offset int, paged bool) string {
	n := url.Values{}
	keep := historyParams
	if paged {
		keep = append(keep[:len(keep):len(keep)], "limit")
	}
	for _, k := range keep {
		if v := q.Get(k); v != "" {
			n.Set(k, v)
		}
	}
	if offset > 0 {
		n.Set("offset", strconv.Itoa(offset))
	}
	if len(n) == 0 {
		return path
	}
	return path + "?" + n.Encode()
}

// historyRanges are the quick picks of the date range, as of now (in the
// display zone), each keeping the rest of the search.
func historyRanges(l *Locale, q url.Values, now time.Time) []RangeLink {
	y, m, d := now.Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, now.Location())
	day := func(t time.Time) string { return t.Format(dateLayout) }
	ranges := []struct {
		key, label string
		from, to   time.Time
	}{
		{"today", l.T("history.range.today"), today, today},
		{"yesterday", l.T("history.range.yesterday"), today.AddDate(0, 0, -1), today.AddDate(0, 0, -1)},
		{"week", l.T("history.range.week"), today.AddDate(0, 0, -6), today},
		{"month", l.T("history.range.month"), time.Date(y, m, 1, 0, 0, 0, 0, now.Location()), today},
	}
	out := make([]RangeLink, 0, len(ranges)+1)
	for _, r := range ranges {
		n := url.Values{}
		for _, k := range historyParams {
			if v := q.Get(k); v != "" {
				n.Set(k, v)
			}
		}
		n.Set("from", day(r.from))
		n.Set("to", day(r.to))
		out = append(out, RangeLink{Key: r.key, Label: r.label, URL: "/history?" + n.Encode(),
			Active: q.Get("from") == day(r.from) && q.Get("to") == day(r.to)})
	}
	all := url.Values{}
	for _, k := range historyParams[:3] {
		if v := q.Get(k); v != "" {
			all.Set(k, v)
		}
	}
	u := "/history"
	if len(all) > 0 {
		u += "?" + all.Encode()
	}
	out = append(out, RangeLink{Key: "all", Label: l.T("history.range.all"), URL: u, Active: q.Get("from") == "" && q.Get("to") == ""})
	return out
}
