// Package phonebook names the numbers sources report without a name: a
// Book loads the configured phonebooks (CSV and vCard files, a CardDAV
// address book, a phonebook exported from a Fritz!Box) into memory and
// answers LookupName at once, comparing numbers in E.164 form so that
// 0301234567, +49301234567 and 0049301234567 are one number. Run keeps
// it current: files are read again when they change, a CardDAV address
// book when its ctag or ETag does. A broken entry is skipped and logged,
// never fatal; a book that cannot be read keeps what it had.
//
// Start with New and Book.Run; monitor.Names puts a Book on the path
// from the sources to the hub.
package phonebook
