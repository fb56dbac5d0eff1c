package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/switchboard/switchboard/static"
)

// staticFile is one embedded asset with its content hash.
type staticFile struct {
	body []byte
	etag string
}

// assets are the embedded files, hashed once at start: pages link them as
// /static/NAME?v=HASH so a new binary's files are fetched at once while
// unchanged ones come from the browser's cache.
var assets = loadAssets()

func loadAssets() map[string]staticFile {
	out := map[string]staticFile{}
	// The embedded FS cannot fail to walk; an error leaves the map empty
	// and the pages without styles, which tests catch.
	_ = fs.WalkDir(static.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static.FS, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[p] = staticFile{body: b, etag: hex.EncodeToString(sum[:6])}
		return nil
	})
	return out
}

// StaticURL returns the URL of an embedded static file, versioned by its
// content; name is a file in static/ such as "wallboard.js".
func StaticURL(name string) string {
	f, ok := assets[name]
	if !ok {
		return "/static/" + name
	}
	return "/static/" + name + "?v=" + f.etag
}

// serveStatic serves embedded files without authentication.
func serveStatic(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/static/")
	f, ok := assets[name]
	if !ok {
		return ErrNotFound
	}
	w.Header().Set("ETag", `"`+f.etag+`"`)
	if r.URL.Query().Get("v") == f.etag {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
	return nil
}

// serveFavicon answers /favicon.ico, which browsers ask for on their own,
// with the pages' SVG icon.
func serveFavicon(w http.ResponseWriter, r *http.Request) error {
	f, ok := assets["favicon.svg"]
	if !ok {
		return ErrNotFound
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	http.ServeContent(w, r, "favicon.svg", time.Time{}, bytes.NewReader(f.body))
	return nil
}
