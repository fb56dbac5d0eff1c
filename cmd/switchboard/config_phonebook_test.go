package main

import (
	"strings"
	"testing"
)

// TestParseConfigPhonebooks: the phonebooks and default_country keys, and
// the errors of a phonebook entry that cannot work.
func TestParseConfigPhonebooks(t *testing.T) {
	t.Setenv("WALLBOARD_TOKEN", "0123456789abcdef")
	c, err := parseConfig([]byte(issueConfig+`default_country: DE
phonebooks:
  - path: contacts.csv
  - path: fritz.xml
  - type: carddav
    url: https://dav.example.org/addressbooks/anna/contacts/
    username: anna
    password_file: /run/secrets/carddav
    poll: 10m
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultCountry != "DE" || len(c.Phonebooks) != 3 || c.Phonebooks[2].Username != "anna" {
		t.Fatalf("config %+v", c.Phonebooks)
	}
	for name, tc := range map[string]struct{ text, want string }{
		"no type":       {"phonebooks:\n  - path: book.txt\n", "phonebooks[0]"},
		"unknown key":   {"phonebooks:\n  - path: a.csv\n    colour: red\n", "colour"},
		"url with user": {"phonebooks:\n  - url: https://u:p@dav.example.org/\n", "phonebooks[0]"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseConfig([]byte(issueConfig+tc.text), "test.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
