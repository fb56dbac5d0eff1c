package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// change is one call change on its way to the database: the call as it
// now is and when the hub published it (what orders two changes of an
// active call).
type change struct {
	At   time.Time    `json:"at"`
	Call monitor.Call `json:"call"`
}

// maxSpoolLine bounds one line of the spool: a call is a few hundred
// bytes of JSON, its variables and transfers included.
const maxSpoolLine = 1 << 20

// encodeChange is ch as one spool line, newline included.
func encodeChange(ch change) ([]byte, error) {
	b, err := json.Marshal(ch)
	if err != nil {
		return nil, err
	}
	if len(b)+1 > maxSpoolLine {
		return nil, fmt.Errorf("%w: %d bytes", ErrSpoolLine, len(b))
	}
	return append(b, '\n'), nil
}

// decodeChange reads one spool line (with or without its newline).
func decodeChange(line []byte) (change, error) {
	var ch change
	if err := json.Unmarshal(bytes.TrimSuffix(line, []byte("\n")), &ch); err != nil {
		return change{}, fmt.Errorf("%w: %w", ErrSpoolLine, err)
	}
	if ch.Call.ID == "" || ch.Call.Source == "" {
		return change{}, fmt.Errorf("%w: no call id or source", ErrSpoolLine)
	}
	return ch, nil
}

// readSpool reads a spool file's lines: JSON objects, one a line, each a
// change. It returns the good lines (newline included) in order, how
// many lines it had to skip (unreadable, or over maxSpoolLine), and
// whether the data ends in a line without its newline (a write cut short
// by a crash: that line is skipped too). It fails only when r does.
func readSpool(r io.Reader) (lines [][]byte, bad int, torn bool, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var cur []byte
	skipping := false
	for {
		frag, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if !skipping {
				cur = append(cur, frag...)
				if len(cur) > maxSpoolLine {
					cur, skipping = nil, true
				}
			}
			continue
		case errors.Is(err, io.EOF):
			if len(frag) > 0 || len(cur) > 0 || skipping {
				torn = true
				bad++
			}
			return lines, bad, torn, nil
		case err != nil:
			return lines, bad, false, fmt.Errorf("read spool: %w", err)
		}
		if skipping {
			bad++
			skipping = false
			continue
		}
		line := append(cur, frag...)
		cur = nil
		if len(line) > maxSpoolLine {
			bad++
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if _, err := decodeChange(line); err != nil {
			bad++
			continue
		}
		lines = append(lines, bytes.Clone(line))
	}
}

// spool is the history's retry file: call changes the database did not
// take, one JSON line each, appended and fsynced before a change counts
// as spooled, so they survive a crash, and written to the database when
// it can be written again. It is bounded by limit bytes.
//
// The file mirrors lines: the changes not yet saved, oldest first. Only
// appends touch it while changes wait; once the first n are saved, the
// rest are written to a new file that replaces it (or the file is cut
// to nothing), so a crash at any point leaves either the old or the new
// list: a change may be saved twice, which is one row, never lost.
type spool struct {
	path  string
	limit int64

	mu    sync.Mutex
	f     *os.File // append-only handle
	size  int64
	lines [][]byte
	full  bool // an append was refused since the spool last shrank
}

// openSpool opens (creating) the spool at path, reads what earlier runs
// left in it and repairs it: a line cut short by a crash, or one that
// cannot be read, is dropped (and counted in bad), so later appends
// start on a line of their own.
func openSpool(path string, limit int64) (sp *spool, bad int, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600) //nolint:gosec // the path comes from data_dir in the configuration
	if err != nil {
		return nil, 0, fmt.Errorf("open spool: %w", err)
	}
	lines, bad, _, err := readSpool(f)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	sp = &spool{path: path, limit: limit, f: f, lines: lines}
	for _, l := range lines {
		sp.size += int64(len(l))
	}
	if bad > 0 {
		if err := sp.rewriteLocked(lines); err != nil {
			f.Close()
			return nil, bad, err
		}
	}
	return sp, bad, nil
}

// append writes ch to the spool and syncs it. It returns ErrSpoolFull,
// writing nothing, when ch would take the file over its limit.
func (sp *spool) append(ch change) error {
	line, err := encodeChange(ch)
	if err != nil {
		return err
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.f == nil {
		return fmt.Errorf("spool append: %w", os.ErrClosed)
	}
	if sp.size+int64(len(line)) > sp.limit {
		sp.full = true
		return fmt.Errorf("%w (%d bytes)", ErrSpoolFull, sp.limit)
	}
	n, err := sp.f.Write(line)
	if err == nil {
		err = sp.f.Sync()
	}
	if err != nil {
		// A partial line would glue onto the next: cut it off again.
		if n > 0 {
			_ = sp.f.Truncate(sp.size)
		}
		return fmt.Errorf("spool append: %w", err)
	}
	sp.size += int64(len(line))
	sp.lines = append(sp.lines, line)
	return nil
}

// pending returns the changes waiting, oldest first; the slice is the
// caller's, its lines are shared and never changed.
func (sp *spool) pending() [][]byte {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return append([][]byte(nil), sp.lines...)
}

// stats returns how many changes wait, the file's size, and whether an
// append was refused since the spool last shrank.
func (sp *spool) stats() (n int, size int64, full bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return len(sp.lines), sp.size, sp.full
}

// done drops the first n changes, which are saved, and returns how many
// remain.
func (sp *spool) done(n int) (int, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if n <= 0 {
		return len(sp.lines), nil
	}
	if sp.f == nil {
		return len(sp.lines), fmt.Errorf("spool: %w", os.ErrClosed)
	}
	rest := sp.lines[min(n, len(sp.lines)):]
	var err error
	if len(rest) == 0 {
		// Cutting to nothing needs no second file; appends go to the new
		// end (O_APPEND).
		err = sp.f.Truncate(0)
		if err == nil {
			err = sp.f.Sync()
		}
		if err == nil {
			sp.size, sp.lines = 0, nil
		}
	} else {
		err = sp.rewriteLocked(rest)
	}
	if err != nil {
		return len(sp.lines), fmt.Errorf("spool: %w", err)
	}
	sp.full = false
	return len(sp.lines), nil
}

// rewriteLocked replaces the file with lines: a new file, synced, renamed
// over the old one, the directory synced; sp.mu held on entry (or sp not
// shared yet).
func (sp *spool) rewriteLocked(lines [][]byte) error {
	tmp := sp.path + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("rewrite spool: %w", err)
	}
	var size int64
	w := bufio.NewWriter(f)
	for _, l := range lines {
		if _, err := w.Write(l); err != nil {
			f.Close()
			return fmt.Errorf("rewrite spool: %w", err)
		}
		size += int64(len(l))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("rewrite spool: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("rewrite spool: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("rewrite spool: %w", err)
	}
	if err := os.Rename(tmp, sp.path); err != nil {
		return fmt.Errorf("rewrite spool: %w", err)
	}
	syncDir(filepath.Dir(sp.path))
	nf, err := os.OpenFile(sp.path, os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("rewrite spool: %w", err)
	}
	sp.f.Close()
	sp.f, sp.size, sp.lines = nf, size, lines
	return nil
}

// syncDir makes a rename in dir durable. A directory that cannot be
// synced (some file systems refuse) leaves the rename to the next sync.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// close closes the file; what waits stays in it for the next run.
func (sp *spool) close() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.f == nil {
		return nil
	}
	err := sp.f.Close()
	sp.f = nil
	return err
}
