package monitor

import (
	"strconv"
	"sync"
)

// KeyAllocator hands out call keys to a source whose own identifiers
// repeat. The Fritz!Box numbers its connections from 0 again as soon as
// a call ends, and its times have whole seconds (and repeat an hour when
// the clocks go back), so neither tells two calls apart for ever; a key
// from the allocator does.
//
// The history implements it with a number of the server run kept in its
// database, so keys stay unique across restarts; replays and tests use a
// [Sequence].
type KeyAllocator interface {
	// NextKey returns a key that source was never given before: not by
	// this allocator and, for one that persists, not in any earlier run.
	// It never blocks and does no I/O: a source's event loop calls it.
	NextKey(source SourceName) string
}

// Sequence is an in-memory KeyAllocator: for each source it counts from
// 1, each number behind a fixed prefix ("" gives "1", "2", …). Its keys
// are unique for the Sequence's life only; a prefix that is itself
// unique for ever (the history's server-run number) makes them unique
// for ever. It is safe for concurrent use.
type Sequence struct {
	prefix string
	mu     sync.Mutex
	next   map[SourceName]uint64
}

var _ KeyAllocator = (*Sequence)(nil)

// NewSequence returns a Sequence whose keys start with prefix.
func NewSequence(prefix string) *Sequence {
	return &Sequence{prefix: prefix, next: map[SourceName]uint64{}}
}

// NextKey returns prefix followed by the source's next number.
func (s *Sequence) NextKey(source SourceName) string {
	s.mu.Lock()
	s.next[source]++
	n := s.next[source]
	s.mu.Unlock()
	return s.prefix + strconv.FormatUint(n, 10)
}
