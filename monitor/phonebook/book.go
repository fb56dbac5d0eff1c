package phonebook

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/e164"
)

// cacheSize bounds the memo of numbers looked up (normalising a number is
// the expensive part of a lookup); it starts over when full.
const cacheSize = 8192

// Book is every configured phonebook in memory. LookupName answers from
// an immutable index swapped in whole by the loaders, so a lookup never
// waits for a load. It implements monitor.NameLookup.
type Book struct {
	country string
	log     *slog.Logger
	client  *http.Client
	sources []*source

	index atomic.Pointer[index]

	// mu guards the memo of normalised numbers and the rebuild.
	mu   sync.Mutex
	memo map[string]string
}

var _ monitor.NameLookup = (*Book)(nil)

// index maps normalised numbers to names.
type index struct {
	names map[string]string
}

// source is one configured book and what it last gave.
type source struct {
	cfg      Config
	password string
	// version says what was loaded: a file's size and time, a CardDAV
	// collection's ctag or ETag; "" before the first load.
	version string
	entries []Entry
}

// Option sets a rare knob of a Book.
type Option func(*Book)

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(b *Book) { b.log = l } }

// WithHTTPClient sets the client CardDAV requests use. Default: a client
// with each book's timeout.
func WithHTTPClient(c *http.Client) Option { return func(b *Book) { b.client = c } }

// New returns a book for the configured phonebooks; country is the ISO
// 3166 code national numbers are read in ("DE"), empty for none. It
// reads nothing yet: Load and Run do.
func New(cfgs []Config, country string, opts ...Option) (*Book, error) {
	if country != "" {
		if phonenumbers.GetCountryCodeForRegion(country) == 0 {
			return nil, fmt.Errorf("%w: default_country %q is no ISO 3166 country code", ErrInvalidConfig, country)
		}
	}
	b := &Book{country: country, log: slog.Default(), memo: map[string]string{}}
	for _, o := range opts {
		o(b)
	}
	for i, c := range cfgs {
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("phonebooks[%d]: %w", i, err)
		}
		s := &source{cfg: c}
		if c.kind() == TypeCardDAV {
			pw, err := c.password()
			if err != nil {
				return nil, fmt.Errorf("phonebooks[%d]: %w", i, err)
			}
			s.password = pw
		}
		b.sources = append(b.sources, s)
	}
	b.index.Store(&index{names: map[string]string{}})
	return b, nil
}

// LookupName returns the name number belongs to in any book, the first
// book listing it winning. It only reads memory.
func (b *Book) LookupName(number string) (string, bool) {
	if number == "" {
		return "", false
	}
	idx := b.index.Load()
	if len(idx.names) == 0 {
		return "", false
	}
	name, ok := idx.names[b.normalize(number)]
	return name, ok
}

// normalize is e164.Key in the book's country, memoised.
func (b *Book) normalize(number string) string {
	b.mu.Lock()
	n, ok := b.memo[number]
	b.mu.Unlock()
	if ok {
		return n
	}
	n = e164.Key(number, b.country)
	b.mu.Lock()
	if len(b.memo) >= cacheSize {
		clear(b.memo)
	}
	b.memo[number] = n
	b.mu.Unlock()
	return n
}

// Len returns how many numbers the books name.
func (b *Book) Len() int { return len(b.index.Load().names) }

// Load reads every book that changed since it was last read and swaps
// the index in when any did. A book that cannot be read keeps what it
// had (logged); broken entries are skipped (logged). It returns the
// number of books that could not be read, as an error for the first.
func (b *Book) Load(ctx context.Context) error {
	var first error
	changed := false
	for _, s := range b.sources {
		ok, err := b.refresh(ctx, s)
		if err != nil {
			b.log.Warn("phonebook not read; the last version stays", "book", s.cfg.name(), "error", err)
			if first == nil {
				first = err
			}
			continue
		}
		changed = changed || ok
	}
	if changed {
		b.rebuild()
	}
	return first
}

// refresh reads s if it changed; it reports whether it did.
func (b *Book) refresh(ctx context.Context, s *source) (bool, error) {
	switch s.cfg.kind() {
	case TypeCardDAV:
		return b.refreshCardDAV(ctx, s)
	}
	fi, err := os.Stat(s.cfg.Path)
	if err != nil {
		return false, err
	}
	version := fmt.Sprintf("%d/%d", fi.Size(), fi.ModTime().UnixNano())
	if version == s.version {
		return false, nil
	}
	raw, err := os.ReadFile(s.cfg.Path)
	if err != nil {
		return false, err
	}
	entries, errs := parse(s.cfg.kind(), raw)
	b.logBroken(s, errs)
	s.version, s.entries = version, entries
	b.log.Info("phonebook loaded", "book", s.cfg.name(), "entries", len(entries), "skipped", len(errs))
	return true, nil
}

// parse reads raw in the format kind.
func parse(kind string, raw []byte) ([]Entry, []error) {
	switch kind {
	case TypeCSV:
		return ParseCSV(bytes.NewReader(raw))
	case TypeVCard:
		return ParseVCard(bytes.NewReader(raw))
	case TypeFritz:
		return ParseFritzXML(bytes.NewReader(raw))
	}
	return nil, nil
}

// logBroken logs the entries a book skipped: a few in full, the rest
// counted.
func (b *Book) logBroken(s *source, errs []error) {
	for i, err := range errs {
		if i == 5 {
			b.log.Warn("phonebook entries skipped", "book", s.cfg.name(), "more", len(errs)-i)
			return
		}
		b.log.Warn("phonebook entry skipped", "book", s.cfg.name(), "error", err)
	}
}

// rebuild makes the index from every book's entries and swaps it in.
func (b *Book) rebuild() {
	names := map[string]string{}
	for _, s := range b.sources {
		for _, e := range s.entries {
			for _, n := range e.Numbers {
				key := e164.Key(n, b.country)
				if strings.IndexFunc(key, isDigit) < 0 {
					continue
				}
				if _, taken := names[key]; !taken {
					names[key] = e.Name
				}
			}
		}
	}
	b.index.Store(&index{names: names})
}

// Run loads the books, then looks at each again every its poll period
// until ctx ends; it returns nil then. A book that cannot be read is
// tried again at its next poll.
func (b *Book) Run(ctx context.Context) error {
	_ = b.Load(ctx)
	if len(b.sources) == 0 {
		<-ctx.Done()
		return nil
	}
	every := b.sources[0].cfg.poll()
	for _, s := range b.sources[1:] {
		every = min(every, s.cfg.poll())
	}
	next := make([]time.Time, len(b.sources))
	now := time.Now()
	for i, s := range b.sources {
		next[i] = now.Add(s.cfg.poll())
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			changed := false
			for i, s := range b.sources {
				if now.Before(next[i]) {
					continue
				}
				next[i] = now.Add(s.cfg.poll())
				ok, err := b.refresh(ctx, s)
				if err != nil {
					b.log.Warn("phonebook not read; the last version stays", "book", s.cfg.name(), "error", err)
				}
				changed = changed || ok
			}
			if changed {
				b.rebuild()
			}
		}
	}
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }
