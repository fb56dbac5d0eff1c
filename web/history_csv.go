package web

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/history"
)

// utf8BOM starts every CSV export. Excel, which is what most people open
// a downloaded CSV file with, reads a file without it in the machine's
// legacy code page (Windows-1252 in Western Europe), so Müller would
// become MÃ¼ller; with it, Excel (and LibreOffice, Numbers, Google
// Sheets, Python's utf-8-sig) reads UTF-8. Scripts that want none ask
// with ?bom=0.
const utf8BOM = "\ufeff"

// csvFlushRows is how many rows the export writes between flushes to
// the client; each flush also renews the write deadline.
const csvFlushRows = 100

// csvWriteTimeout bounds how long the client may take to take
// csvFlushRows rows: a download that stalls ends rather than keeping a
// read of the database open for ever.
const csvWriteTimeout = 30 * time.Second

// csvTimeLayout is how the export writes times: in the display zone,
// which the header names, in a form spreadsheets read as a date and time.
const csvTimeLayout = "2006-01-02 15:04:05"

// historyCSV streams every call of the history search in the query
// string (the page's filter, without its paging) as CSV: one row per
// call, read from the store and written out one at a time, so an export
// of any size holds one call in memory.
func (s *Server) historyCSV(w http.ResponseWriter, r *http.Request) error {
	if s.deps.History == nil {
		return ErrNoHistory
	}
	q := r.URL.Query()
	f, err := s.historyFilter(q)
	if err != nil {
		return err
	}
	bom := true
	switch q.Get("bom") {
	case "", "1", "true":
	case "0", "false":
		bom = false
	default:
		return fmt.Errorf("%w: bom %q: want 0 or 1", ErrBadRequest, clip(q.Get("bom")))
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+csvFileName(f)+`"`)
	h.Set("Cache-Control", "no-store")

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(csvWriteTimeout))
	cw := csv.NewWriter(w)
	cw.UseCRLF = true // RFC 4180, and what Excel writes
	if bom {
		if _, err := w.Write([]byte(utf8BOM)); err != nil {
			return nil // the client is gone
		}
	}
	_ = cw.Write(csvHeader(s.zone))
	cw.Flush()
	_ = rc.Flush()
	rows := 0
	row := make([]string, 0, len(csvColumns))
	err = s.deps.History.Each(r.Context(), f, func(c monitor.Call) error {
		row = csvRow(row[:0], c, s.loc)
		if err := cw.Write(row); err != nil {
			return errClientGone{err}
		}
		rows++
		if rows%csvFlushRows == 0 {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return errClientGone{err}
			}
			_ = rc.Flush()
			_ = rc.SetWriteDeadline(time.Now().Add(csvWriteTimeout))
		}
		return nil
	})
	if err == nil {
		cw.Flush()
		err = cw.Error()
		if err != nil {
			err = errClientGone{err}
		}
	}
	var gone errClientGone
	switch {
	case err == nil:
		s.log.Debug("history exported", "calls", rows)
	case errors.As(err, &gone) || r.Context().Err() != nil:
		s.log.Debug("history export ended by the client", "calls", rows, "err", err)
	default:
		// The status line is out: end the connection early, so the
		// download fails rather than leaving a short file that looks
		// whole.
		s.log.Error("history export failed", "calls", rows, "err", err)
		if conn, _, herr := rc.Hijack(); herr == nil {
			_ = conn.Close()
		}
	}
	return nil
}

// csvFileName names an export after its date range: calls.csv,
// calls-2026-11-23.csv, calls-2026-11-01-to-2026-11-23.csv.
func csvFileName(f history.Filter) string {
	name := "calls"
	var from, to string
	if !f.Since.IsZero() {
		from = f.Since.Format(dateLayout)
		name += "-" + from
	}
	if !f.Until.IsZero() {
		to = f.Until.AddDate(0, 0, -1).Format(dateLayout)
		if to != from {
			name += "-to-" + to
		}
	}
	return name + ".csv"
}

// errClientGone is a failed write to the client: a download cancelled,
// a connection lost, the write deadline passed.
type errClientGone struct{ err error }

func (e errClientGone) Error() string { return "write: " + e.err.Error() }
func (e errClientGone) Unwrap() error { return e.err }

// csvColumns are the export's columns; the time columns are named with
// the display zone.
var csvColumns = []string{
	"Started", "Answered", "Ended", "Talk (s)", "Direction", "From", "From name", "To", "To name",
	"Answered by", "Line", "Source", "Result", "Cause", "Call ID",
}

func csvHeader(zone string) []string {
	h := make([]string, len(csvColumns))
	copy(h, csvColumns)
	for i := range 3 {
		h[i] += " (" + zone + ")"
	}
	return h
}

// csvRow appends c's cells to row.
func csvRow(row []string, c monitor.Call, loc *time.Location) []string {
	at := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(loc).Format(csvTimeLayout)
	}
	number := func(p monitor.Party) string {
		if p.Number == "" && p.Private {
			return "withheld"
		}
		return p.Number
	}
	var by string
	if c.AnsweredBy != nil {
		by = c.AnsweredBy.Extension
		if by == "" {
			by = c.AnsweredBy.Number
		}
		if c.AnsweredBy.Name != "" {
			by = strings.TrimSpace(by + " " + c.AnsweredBy.Name)
		}
	}
	row = append(row,
		at(c.Started), at(c.Answered), at(c.Ended), strconv.FormatInt(c.Duration, 10), string(c.Direction),
		number(c.From), c.From.Name, number(c.To), c.To.Name, by, c.Line, string(c.Source),
		string(c.Reason), c.Cause, string(c.ID))
	for i, v := range row {
		row[i] = csvCell(v)
	}
	return row
}

// csvCell keeps a cell from being read as a formula by a spreadsheet
// (CSV injection, OWASP): a cell that starts with = + - @, a tab or a
// carriage return gets a leading apostrophe, so a caller name such as
// =HYPERLINK(…) shows as the text it is. A number written +49… keeps its
// + this way too, instead of turning into 4.9E+11. The csv writer quotes
// what needs quoting.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
