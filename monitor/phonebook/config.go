package phonebook

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Types of phonebook.
const (
	TypeCSV     = "csv"
	TypeVCard   = "vcard"
	TypeFritz   = "fritz"
	TypeCardDAV = "carddav"
)

// Defaults of how often a book is looked at again.
const (
	DefaultFilePoll    = 30 * time.Second
	DefaultCardDAVPoll = 5 * time.Minute
)

// Config is one entry of the `phonebooks:` list: a file (CSV, vCard, a
// Fritz!Box phonebook export) or a CardDAV address book.
type Config struct {
	// Type is csv, vcard, fritz or carddav; for a file the default comes
	// from its name (.csv; .vcf or .vcard; .xml), for a URL carddav.
	Type string `yaml:"type"`
	// Path is the file.
	Path string `yaml:"path"`
	// URL is the CardDAV address book collection
	// (https://dav.example.com/addressbooks/anna/contacts/).
	URL string `yaml:"url"`
	// Username and Password (or PasswordFile, not both) sign in to the
	// CardDAV server with HTTP Basic authentication. The password is
	// never logged.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// Poll is how often the book is looked at again: a file's size and
	// modification time (default 30s), a CardDAV collection's ctag or
	// ETag (default 5m).
	Poll time.Duration `yaml:"poll"`
	// Timeout bounds one CardDAV request. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// kind is the type in effect.
func (c Config) kind() string {
	if c.Type != "" {
		return strings.ToLower(c.Type)
	}
	if c.URL != "" {
		return TypeCardDAV
	}
	switch strings.ToLower(filepath.Ext(c.Path)) {
	case ".csv":
		return TypeCSV
	case ".vcf", ".vcard":
		return TypeVCard
	case ".xml":
		return TypeFritz
	}
	return ""
}

// name is how logs call the book (never with credentials).
func (c Config) name() string {
	if c.URL != "" {
		if u, err := url.Parse(c.URL); err == nil {
			u.User = nil
			u.RawQuery = ""
			return u.String()
		}
		return "carddav"
	}
	return c.Path
}

// poll is the poll period in effect.
func (c Config) poll() time.Duration {
	switch {
	case c.Poll > 0:
		return c.Poll
	case c.kind() == TypeCardDAV:
		return DefaultCardDAVPoll
	}
	return DefaultFilePoll
}

// Validate reports an entry that cannot work.
func (c Config) Validate() error {
	k := c.kind()
	switch k {
	case TypeCSV, TypeVCard, TypeFritz:
		if c.Path == "" {
			return fmt.Errorf("%w: a %s phonebook needs path", ErrInvalidConfig, k)
		}
		if c.URL != "" {
			return fmt.Errorf("%w: %s: path and url cannot both be set", ErrInvalidConfig, c.Path)
		}
	case TypeCardDAV:
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: carddav url %q is not an http(s) URL", ErrInvalidConfig, c.name())
		}
		if u.User != nil {
			return fmt.Errorf("%w: carddav url: give username and password_file, not credentials in the URL", ErrInvalidConfig)
		}
		if c.Password != "" && c.PasswordFile != "" {
			return fmt.Errorf("%w: carddav %s: password and password_file cannot both be set", ErrInvalidConfig, c.name())
		}
	case "":
		return fmt.Errorf("%w: %q: set type (csv, vcard, fritz or carddav)", ErrInvalidConfig, c.name())
	default:
		return fmt.Errorf("%w: type %q (want csv, vcard, fritz or carddav)", ErrInvalidConfig, c.Type)
	}
	if c.Poll < 0 || c.Timeout < 0 {
		return fmt.Errorf("%w: %s: poll and timeout cannot be negative", ErrInvalidConfig, c.name())
	}
	return nil
}

// password returns the CardDAV password, read from its file.
func (c Config) password() (string, error) {
	if c.PasswordFile == "" {
		return c.Password, nil
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("carddav %s: password_file: %w", c.name(), err)
	}
	return strings.TrimSpace(string(b)), nil
}
