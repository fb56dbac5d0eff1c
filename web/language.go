package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/switchboard/switchboard/monitor"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// The pages' words live in message catalogues, one TOML file per
// language in locales/ (en.toml, de.toml), which a translator edits
// without touching code. English is the fallback and the reference: every
// other catalogue must have each of its keys (a test checks).
//
//go:embed locales/*.toml
var localeFiles embed.FS

// scriptPrefixes mark the messages the pages' scripts use: they are
// handed to every page as JSON (see Layout and static/i18n.js). Messages
// only scripts use go under "js."; the others are words the server's
// pages use too.
var scriptPrefixes = []string{"js.", "format.", "party.", "direction.", "state.", "result.", "link.", "action.", "figures.", "wallboard.since", "wallboard.via", "wallboard.signed_out"}

// forScripts reports whether the message id is handed to the scripts.
func forScripts(id string) bool {
	for _, p := range scriptPrefixes {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}

// langCookie keeps the language chosen on a page, also for signed-out
// pages such as the sign-in form.
const langCookie = "lang"

// langCookieAge is how long a chosen language is remembered.
const langCookieAge = 400 * 24 * time.Hour

// missingMark wraps the ID of a message no catalogue has, so that it
// shows on the page (and a test finds it) instead of vanishing.
const missingMark = "⟦"

// Catalogue holds the messages of every language the pages speak.
type Catalogue struct {
	bundle  *i18n.Bundle
	tags    []language.Tag
	matcher language.Matcher
	// messages are each language's messages by ID, as the files have
	// them (for the scripts' catalogue and the completeness test).
	messages map[language.Tag]map[string]*i18n.Message
	// locales are made once per language.
	locales map[language.Tag]*Locale
}

// LoadCatalogue reads every locales/LANG.toml of fsys; English must be
// among them.
func LoadCatalogue(fsys fs.FS) (*Catalogue, error) {
	c := &Catalogue{bundle: i18n.NewBundle(language.English), messages: map[language.Tag]map[string]*i18n.Message{},
		locales: map[language.Tag]*Locale{}}
	names, err := fs.Glob(fsys, "locales/*.toml")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCatalogue, err)
	}
	sort.Strings(names)
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCatalogue, name, err)
		}
		tag, err := language.Parse(strings.TrimSuffix(path.Base(name), ".toml"))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: file name is no language: %w", ErrCatalogue, name, err)
		}
		msgs, err := i18n.ParseMessageBytes(b, toml.Unmarshal)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCatalogue, name, err)
		}
		if err := c.bundle.AddMessages(tag, msgs...); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCatalogue, name, err)
		}
		byID := map[string]*i18n.Message{}
		for _, m := range msgs {
			byID[m.ID] = m
		}
		c.messages[tag] = byID
		if tag == language.English {
			c.tags = append([]language.Tag{tag}, c.tags...)
		} else {
			c.tags = append(c.tags, tag)
		}
	}
	if _, ok := c.messages[language.English]; !ok {
		return nil, fmt.Errorf("%w: no locales/en.toml", ErrCatalogue)
	}
	// The first tag is the matcher's fallback.
	c.matcher = language.NewMatcher(c.tags)
	for _, t := range c.tags {
		c.locales[t] = c.newLocale(t)
	}
	return c, nil
}

// Languages are the catalogue's languages, English first.
func (c *Catalogue) Languages() []language.Tag { return append([]language.Tag(nil), c.tags...) }

// Locale returns the locale of tag, or English's when the catalogue has
// no such language.
func (c *Catalogue) Locale(tag language.Tag) *Locale {
	if l, ok := c.locales[tag]; ok {
		return l
	}
	return c.locales[language.English]
}

// Match picks the language for a request: a chosen one (cookie or the
// user's setting) when the catalogue has it, else the best match for the
// browser's Accept-Language, else English.
func (c *Catalogue) Match(chosen, acceptLanguage string) language.Tag {
	if t, ok := c.known(chosen); ok {
		return t
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return c.tags[0]
	}
	_, i, conf := c.matcher.Match(tags...)
	if conf == language.No {
		return c.tags[0]
	}
	return c.tags[i]
}

// known returns the catalogue's language named s ("de", "en").
func (c *Catalogue) known(s string) (language.Tag, bool) {
	if s == "" || len(s) > 35 {
		return language.Und, false
	}
	t, err := language.Parse(s)
	if err != nil {
		return language.Und, false
	}
	for _, k := range c.tags {
		if k == t {
			return k, true
		}
	}
	return language.Und, false
}

// Locale is one language of the catalogue: its words and its way of
// writing numbers, dates and times.
type Locale struct {
	tag     language.Tag
	loc     *i18n.Localizer
	printer *message.Printer
	cat     *Catalogue
	// script is the scripts' catalogue of this language, for the page.
	script ScriptCatalogue
	// dateLayout is the Go layout of a date ("02.01.2006").
	dateLayout string
}

func (c *Catalogue) newLocale(tag language.Tag) *Locale {
	l := &Locale{tag: tag, loc: i18n.NewLocalizer(c.bundle, tag.String()), printer: message.NewPrinter(tag), cat: c}
	l.dateLayout = l.T("format.date_layout")
	l.script = ScriptCatalogue{Lang: tag.String(), Messages: map[string]any{}}
	for id := range c.messages[language.English] {
		if !forScripts(id) {
			continue
		}
		m := c.messages[tag][id]
		if m == nil {
			m = c.messages[language.English][id]
		}
		if m.One != "" || m.Few != "" || m.Many != "" {
			l.script.Messages[id] = map[string]string{
				"zero": m.Zero, "one": m.One, "two": m.Two, "few": m.Few, "many": m.Many, "other": m.Other}
		} else {
			l.script.Messages[id] = m.Other
		}
	}
	return l
}

// ScriptCatalogue is what the pages' scripts get of a language: its tag
// and the messages of scriptPrefixes by ID, each a template ("Calling
// {{.Who}}") or, for counts, its plural forms.
type ScriptCatalogue struct {
	Lang     string         `json:"lang"`
	Messages map[string]any `json:"messages"`
}

// Tag is the locale's language.
func (l *Locale) Tag() language.Tag { return l.tag }

// Lang is the language as <html lang> wants it ("de").
func (l *Locale) Lang() string { return l.tag.String() }

// T returns the message id in the locale's language. Arguments are
// name-value pairs for the message's template ("To", number); a "Count"
// also picks the plural form. A message no catalogue has comes back as
// ⟦id⟧.
func (l *Locale) T(id string, args ...any) string {
	if l == nil {
		return missingMark + id + "⟧"
	}
	var data map[string]any
	var count any
	if len(args) > 0 {
		data = make(map[string]any, len(args)/2)
		for i := 0; i+1 < len(args); i += 2 {
			k, _ := args[i].(string)
			data[k] = args[i+1]
			if k == "Count" {
				count = args[i+1]
			}
		}
	}
	s, err := l.loc.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data, PluralCount: count})
	if err != nil || s == "" {
		slog.Debug("message missing", "component", "web", "id", id, "lang", l.Lang(), "err", err)
		return missingMark + id + "⟧"
	}
	return s
}

// Number writes f with decimals places in the locale's way (1.5 or
// 1,5).
func (l *Locale) Number(f float64, decimals int) string {
	return l.printer.Sprintf("%.*f", decimals, f)
}

// Int writes n in the locale's way, with digit grouping.
func (l *Locale) Int(n int) string { return l.printer.Sprintf("%d", n) }

// Date writes t's date in the locale's way (31.12.2026, 2026-12-31).
func (l *Locale) Date(t time.Time) string { return t.Format(l.dateLayout) }

// Script is the catalogue the page hands to its scripts.
func (l *Locale) Script() ScriptCatalogue { return l.script }

type localeKey struct{}

// WithLocale returns ctx carrying l, for T and the pages.
func WithLocale(ctx context.Context, l *Locale) context.Context {
	return context.WithValue(ctx, localeKey{}, l)
}

// defaultCatalogue is the embedded catalogue, loaded once.
var defaultCatalogue = sync.OnceValues(func() (*Catalogue, error) { return LoadCatalogue(localeFiles) })

// LocaleFrom returns the request's locale; English when ctx has none
// (a component rendered outside a request).
func LocaleFrom(ctx context.Context) *Locale {
	if l, ok := ctx.Value(localeKey{}).(*Locale); ok {
		return l
	}
	c, err := defaultCatalogue()
	if err != nil {
		return nil
	}
	return c.Locale(language.English)
}

// T returns the message id in the request's language; see Locale.T. In
// templ: { T(ctx, "history.title") }.
func T(ctx context.Context, id string, args ...any) string {
	return LocaleFrom(ctx).T(id, args...)
}

// localize puts the request's locale into its context: the language
// chosen on a page (cookie), else the browser's Accept-Language. A
// signed-in user's stored choice reaches the cookie at sign-in.
func (s *Server) localize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chosen := ""
		if c, err := r.Cookie(langCookie); err == nil {
			chosen = c.Value
		}
		tag := s.catalogue.Match(chosen, r.Header.Get("Accept-Language"))
		w.Header().Add("Vary", "Accept-Language")
		next.ServeHTTP(w, r.WithContext(WithLocale(r.Context(), s.catalogue.Locale(tag))))
	})
}

// setLangCookie remembers tag in the browser.
func (s *Server) setLangCookie(w http.ResponseWriter, r *http.Request, tag language.Tag) {
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // HttpOnly and SameSite set; Secure follows secure_cookies (auto: over TLS)
		Name: langCookie, Value: tag.String(), Path: "/", MaxAge: int(langCookieAge.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookie(r),
	})
}

// maxLanguageForm bounds the language switch's body.
const maxLanguageForm = 4 << 10

// chooseLanguage is the language switch of every page (POST /language,
// fields lang and next): it remembers the choice in a cookie and, for a
// signed-in user, with the user, so that it follows them to the next
// sign-in elsewhere. Signed in, the form needs its CSRF token; signed out
// only the cross-origin check guards it, as it changes nothing but the
// words on this browser's pages.
func (s *Server) chooseLanguage(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxLanguageForm)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("%w: language form: %w", ErrBadRequest, err)
	}
	tag, ok := s.catalogue.known(r.PostFormValue("lang"))
	if !ok {
		return fmt.Errorf("%w: unknown language %q", ErrBadRequest, clip(r.PostFormValue("lang")))
	}
	if p, err := s.authenticate(r); err == nil {
		if err := checkCSRF(r, p); err != nil {
			return err
		}
		if p.sessionID != "" && !p.device {
			if err := s.sessions.SetUserLanguage(r.Context(), p.user.Name, tag.String()); err != nil {
				return fmt.Errorf("remember language: %w: %w", ErrSessionStore, err)
			}
		}
	}
	s.setLangCookie(w, r, tag)
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther) //nolint:gosec // localPath keeps it on this site
	return nil
}

// LanguageChoice is one entry of the language switch.
type LanguageChoice struct {
	// Code is the tag ("de"), Name the language in its own words.
	Code, Name string
	Current    bool
}

// languageChoices lists the catalogue's languages for the switch.
func languageChoices(ctx context.Context) []LanguageChoice {
	cur := LocaleFrom(ctx)
	if cur == nil {
		return nil
	}
	var out []LanguageChoice
	for _, t := range cur.cat.tags {
		out = append(out, LanguageChoice{Code: t.String(), Name: cur.cat.Locale(t).T("language.name"), Current: t == cur.tag})
	}
	return out
}

// applyUserLanguage, at sign-in, brings the language name chose before
// to this browser; a user who never chose keeps the browser's, and the
// one chosen on the sign-in page becomes theirs.
func (s *Server) applyUserLanguage(w http.ResponseWriter, r *http.Request, name string) {
	lang, err := s.sessions.UserLanguage(r.Context(), name)
	if err != nil {
		s.log.Warn("the user's language could not be read", "user", name, "err", err)
		return
	}
	if tag, ok := s.catalogue.known(lang); ok {
		s.setLangCookie(w, r, tag)
		return
	}
	if c, err := r.Cookie(langCookie); err == nil {
		if tag, ok := s.catalogue.known(c.Value); ok {
			if err := s.sessions.SetUserLanguage(r.Context(), name, tag.String()); err != nil {
				s.log.Warn("the user's language could not be stored", "user", name, "err", err)
			}
		}
	}
}

// Problem is an error a page can say in its reader's language: a
// message ID with its arguments, wrapping the sentinel that classifies
// it (ErrBadRequest, ErrNotFound). Its Error text is the English
// message, for logs and the JSON API.
type Problem struct {
	Err  error
	ID   string
	Args []any
}

// problem returns a Problem of sentinel err with message id.
func problem(err error, id string, args ...any) error {
	return &Problem{Err: err, ID: id, Args: args}
}

func (p *Problem) Error() string {
	return p.Err.Error() + ": " + LocaleFrom(context.Background()).T(p.ID, p.Args...)
}

// Unwrap returns the sentinel.
func (p *Problem) Unwrap() error { return p.Err }

// apiMessage is what a page shows of an API error: err in ctx's
// language where the catalogue has words for it.
func apiMessage(ctx context.Context, err error, status int, msg string) string {
	var p *Problem
	switch {
	case errors.As(err, &p):
		return Say(ctx, err)
	case status == http.StatusInternalServerError:
		return T(ctx, "error.internal")
	case errors.Is(err, monitor.ErrNoSuchCall):
		return T(ctx, "error.api.no_such_call")
	case errors.Is(err, monitor.ErrUnsupported):
		return T(ctx, "error.api.unsupported")
	case errors.Is(err, ErrInvalidToken):
		return T(ctx, "error.api.invalid_token")
	case errors.Is(err, ErrUnauthenticated):
		return T(ctx, "error.api.signed_out")
	case errors.Is(err, ErrBadCSRF):
		return T(ctx, "error.csrf")
	case errors.Is(err, ErrForbidden):
		return T(ctx, "error.api.forbidden")
	case errors.Is(err, ErrSessionStore):
		return T(ctx, "error.session_store")
	}
	return sentence(msg)
}

// Say returns err as a sentence in ctx's language: a Problem in its
// words, any other error in its own (English) ones without the
// sentinel's prefix.
func Say(ctx context.Context, err error) string {
	var p *Problem
	if errors.As(err, &p) {
		return sentence(T(ctx, p.ID, p.Args...))
	}
	return sentence(errorWords(err))
}
