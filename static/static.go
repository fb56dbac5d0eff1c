// Package static holds the JavaScript and CSS served to browsers, embedded
// into the binary. Files are named after the page that uses them
// (wallboard.js for the wallboard); app.css styles every page, favicon.svg
// is the icon of every page.
package static

import "embed"

// FS holds every script and style sheet of this folder.
//
//go:embed *.js *.css *.svg
var FS embed.FS
