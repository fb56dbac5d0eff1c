package web

import (
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Wall-screen links: an admin names a screen and makes a link on the
// devices page, opens it on the wall screen, and the screen becomes a
// device: a long-lived viewer sign-in under that name, listed on the
// devices page until revoked. The code works once, within wallLinkTTL,
// so it never stays useful in a browser history.
const (
	wallLinkTTL      = 15 * time.Minute
	maxPendingWalls  = 100
	wallCodeBytes    = 32
	wallLinkPathPart = "/wall/"
	// maxDeviceName bounds a device's name (in characters).
	maxDeviceName = 64
)

type wallLink struct {
	name    string
	creator string
	expires time.Time
	// lang is the language the screen shows ("de"); empty for its
	// browser's.
	lang string
}

// deviceName checks the name an admin gives a wall screen: trimmed, not
// empty, at most maxDeviceName characters, no control characters.
func deviceName(raw string) (string, error) {
	n := strings.TrimSpace(raw)
	switch {
	case n == "":
		return "", problem(ErrBadRequest, "error.device_name_empty")
	case utf8.RuneCountInString(n) > maxDeviceName || !utf8.ValidString(n):
		return "", problem(ErrBadRequest, "error.device_name_long", "Max", maxDeviceName)
	case strings.IndexFunc(n, unicode.IsControl) >= 0:
		return "", problem(ErrBadRequest, "error.device_name_line")
	}
	return n, nil
}

type wallLinks struct {
	now func() time.Time

	mu sync.Mutex
	m  map[string]wallLink
}

func newWallLinks(now func() time.Time) *wallLinks {
	return &wallLinks{now: now, m: make(map[string]wallLink)}
}

// create returns a new code for the device name, made by creator, to
// show lang (empty: the screen's browser's), and when it expires.
func (w *wallLinks) create(name, creator, lang string) (string, time.Time) {
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
	w.m[code] = wallLink{name: name, creator: creator, expires: exp, lang: lang}
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
