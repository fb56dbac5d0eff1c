package phonebook

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxDAVBody bounds a CardDAV answer.
const maxDAVBody = 64 << 20

// The CardDAV requests (RFC 4918 PROPFIND, RFC 6352 addressbook-query
// REPORT). The collection's getctag (calendarserver.org's extension most
// servers have), else its sync-token (RFC 6578), else its getetag says
// whether anything changed; only then are the cards fetched.
const (
	propfindVersion = `<?xml version="1.0" encoding="utf-8"?>` +
		`<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:getctag/><d:sync-token/><d:getetag/></d:prop></d:propfind>`
	reportCards = `<?xml version="1.0" encoding="utf-8"?>` +
		`<c:addressbook-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><c:address-data/></d:prop><c:filter/></c:addressbook-query>`
)

// multistatus is a WebDAV 207 answer, matched by local names whatever
// the server's prefixes.
type multistatus struct {
	Responses []struct {
		Href     string `xml:"href"`
		Propstat []struct {
			Status string `xml:"status"`
			Prop   struct {
				CTag        string `xml:"getctag"`
				SyncToken   string `xml:"sync-token"`
				ETag        string `xml:"getetag"`
				AddressData string `xml:"address-data"`
			} `xml:"prop"`
		} `xml:"propstat"`
	} `xml:"response"`
}

// refreshCardDAV fetches the cards of s when its collection changed.
func (b *Book) refreshCardDAV(ctx context.Context, s *source) (bool, error) {
	ms, err := b.dav(ctx, s, "PROPFIND", "0", propfindVersion)
	if err != nil {
		return false, err
	}
	version := ""
	for _, r := range ms.Responses {
		for _, p := range r.Propstat {
			if !okStatus(p.Status) {
				continue
			}
			switch {
			case p.Prop.CTag != "":
				version = "ctag:" + strings.TrimSpace(p.Prop.CTag)
			case p.Prop.SyncToken != "" && !strings.HasPrefix(version, "ctag:"):
				version = "sync:" + strings.TrimSpace(p.Prop.SyncToken)
			case p.Prop.ETag != "" && version == "":
				version = "etag:" + strings.TrimSpace(p.Prop.ETag)
			}
		}
		break // Depth 0: the collection itself
	}
	if version != "" && version == s.version {
		return false, nil
	}
	ms, err = b.dav(ctx, s, "REPORT", "1", reportCards)
	if err != nil {
		return false, err
	}
	var entries []Entry
	var errs []error
	for _, r := range ms.Responses {
		for _, p := range r.Propstat {
			if !okStatus(p.Status) || strings.TrimSpace(p.Prop.AddressData) == "" {
				continue
			}
			es, bad := ParseVCard(strings.NewReader(p.Prop.AddressData))
			entries = append(entries, es...)
			for _, e := range bad {
				errs = append(errs, fmt.Errorf("%s: %w", r.Href, e))
			}
		}
	}
	b.logBroken(s, errs)
	s.version, s.entries = version, entries
	b.log.Info("phonebook loaded", "book", s.cfg.name(), "entries", len(entries), "skipped", len(errs))
	return true, nil
}

// okStatus reports whether a propstat's status line is 2xx (no status:
// yes).
func okStatus(line string) bool {
	f := strings.Fields(line)
	return len(f) < 2 || strings.HasPrefix(f[1], "2")
}

// dav sends one WebDAV request to the book's collection and decodes its
// multistatus answer.
func (b *Book) dav(ctx context.Context, s *source, method, depth, body string) (*multistatus, error) {
	timeout := s.cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.cfg.URL, bytes.NewReader([]byte(body)))
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrCardDAV, method, err)
	}
	req.Header.Set("Content-Type", `application/xml; charset="utf-8"`)
	req.Header.Set("Depth", depth)
	if s.cfg.Username != "" || s.password != "" {
		req.SetBasicAuth(s.cfg.Username, s.password)
	}
	client := b.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrCardDAV, method, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusMultiStatus {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("%w %s: %s", ErrCardDAV, method, resp.Status)
	}
	var ms multistatus
	if err := xml.NewDecoder(io.LimitReader(resp.Body, maxDAVBody)).Decode(&ms); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrCardDAV, method, err)
	}
	return &ms, nil
}
