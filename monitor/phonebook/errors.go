package phonebook

import "errors"

var (
	// ErrInvalidConfig is wrapped by Config.Validate for a phonebook
	// entry that cannot work.
	ErrInvalidConfig = errors.New("invalid phonebook configuration")
	// ErrBadEntry is wrapped by the parsers for an entry they skipped.
	ErrBadEntry = errors.New("phonebook entry skipped")
	// ErrCardDAV is wrapped for a CardDAV server's answer that is no
	// address book (an HTTP error status, a body that is no multistatus).
	ErrCardDAV = errors.New("carddav")
)
