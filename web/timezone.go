package web

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// displayZone resolves the timezone key: the one time zone every page,
// export and script shows times in. name is an IANA name; empty means the
// server's own zone. The zone comes back with its IANA name, which the
// pages hand to the browser's Intl.DateTimeFormat, so that what the
// server renders and what a script renders agree whatever zone the
// browser is in. A server whose own zone has no IANA name anywhere it
// is told (TZ, /etc/localtime, /etc/timezone) shows UTC, and named says
// so.
func displayZone(name string) (loc *time.Location, iana string, named bool, err error) {
	if name != "" {
		loc, err := time.LoadLocation(name)
		if err != nil || name == "Local" {
			return nil, "", false, fmt.Errorf("timezone %q: not a time zone; want an IANA name such as Europe/Berlin or America/New_York", name)
		}
		return loc, name, true, nil
	}
	for _, n := range localZoneNames() {
		if loc, err := time.LoadLocation(n); err == nil {
			return loc, n, true, nil
		}
	}
	return time.UTC, "UTC", false, nil
}

// localZoneNames are the names the system gives its own zone, in the
// order the Go runtime reads them: TZ, then /etc/localtime (a link into
// the zoneinfo tree on most systems), then Debian's /etc/timezone.
func localZoneNames() []string {
	var out []string
	if tz, ok := os.LookupEnv("TZ"); ok {
		tz = strings.TrimPrefix(tz, ":")
		if tz == "" {
			// Go reads an empty TZ as UTC.
			return []string{"UTC"}
		}
		if n, ok := zoneFromPath(tz); ok {
			out = append(out, n)
		} else if !filepath.IsAbs(tz) {
			out = append(out, tz)
		}
	}
	if p, err := filepath.EvalSymlinks("/etc/localtime"); err == nil {
		if n, ok := zoneFromPath(p); ok {
			out = append(out, n)
		}
	}
	if b, err := os.ReadFile("/etc/timezone"); err == nil {
		if n := strings.TrimSpace(string(b)); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// zoneFromPath returns the zone name of a file in a zoneinfo tree:
// /usr/share/zoneinfo/Europe/Berlin is Europe/Berlin.
func zoneFromPath(p string) (string, bool) {
	const dir = "zoneinfo/"
	i := strings.LastIndex(p, dir)
	if i < 0 || i+len(dir) == len(p) {
		return "", false
	}
	return p[i+len(dir):], true
}
