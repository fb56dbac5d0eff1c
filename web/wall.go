package web

import (
	"sync"
	"time"
)

// Wall-screen links: an admin creates one on the wallboard, opens it on the
// wall screen, and the screen gets a viewer session. The code works once,
// within wallLinkTTL, so it never stays useful in a browser history.
const (
	wallLinkTTL      = 15 * time.Minute
	maxPendingWalls  = 100
	wallSessionUser  = "wall-screen"
	wallCodeBytes    = 32
	wallLinkPathPart = "/wall/"
)

type wallLink struct {
	creator string
	expires time.Time
}

type wallLinks struct {
	now func() time.Time

	mu sync.Mutex
	m  map[string]wallLink
}

func newWallLinks(now func() time.Time) *wallLinks {
	return &wallLinks{now: now, m: make(map[string]wallLink)}
}

// create returns a new code made by creator and when it expires.
func (w *wallLinks) create(creator string) (string, time.Time) {
	now := w.now()
	code := randomToken(wallCodeBytes)
	exp := now.Add(wallLinkTTL)
	w.mu.Lock()
	defer w.mu.Unlock()
	for c, l := range w.m {
		if !now.Before(l.expires) {
			delete(w.m, c)
		}
	}
	if len(w.m) >= maxPendingWalls {
		// Forget the oldest pending link rather than refuse the admin.
		var oldest string
		for c, l := range w.m {
			if oldest == "" || l.expires.Before(w.m[oldest].expires) {
				oldest = c
			}
		}
		delete(w.m, oldest)
	}
	w.m[code] = wallLink{creator: creator, expires: exp}
	return code, exp
}

// use consumes code; false when unknown, used or expired.
func (w *wallLinks) use(code string) (wallLink, bool) {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	l, ok := w.m[code]
	if !ok {
		return wallLink{}, false
	}
	delete(w.m, code)
	return l, now.Before(l.expires)
}
