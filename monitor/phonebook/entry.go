package phonebook

import "strings"

// Entry is one contact of a phonebook: a name and its numbers, as the
// book spells them.
type Entry struct {
	Name    string
	Numbers []string
}

// cleanName trims a name and folds its inner white space.
func cleanName(s string) string { return strings.Join(strings.Fields(s), " ") }
