package main

import (
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// envRef matches ${NAME}. Only the braced form is expanded, so bcrypt
// hashes ("$2a$10$…") and other dollar signs pass through untouched.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandString replaces every ${NAME} in s by the environment variable's
// value and returns the names that are not set.
func expandString(s string, lookup func(string) (string, bool)) (string, []string) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var missing []string
	out := envRef.ReplaceAllStringFunc(s, func(m string) string {
		name := envRef.FindStringSubmatch(m)[1]
		v, ok := lookup(name)
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	return out, missing
}

// expandEnv replaces ${NAME} in every value under n (at key path path)
// by the environment variable's value. An unset variable is a problem:
// an empty token or password must never be configured by accident. The
// values are expanded in the parsed tree rather than in the text, so
// that positions stay true, comments are left alone, and a variable's
// value is a value, whatever characters it holds. Keys are not
// expanded: they are the program's names, not the site's. A plain
// (unquoted) value is read again after expansion as if written so
// (`port: ${PORT}` is a number); a quoted one stays text.
func (k *checker) expandEnv(n *yaml.Node, path string, lookup func(string) (string, bool)) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			k.expandEnv(c, path, lookup)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k.expandEnv(n.Content[i+1], keyPath(path, n.Content[i].Value), lookup)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			k.expandEnv(c, itemPath(path, i), lookup)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		v, missing := expandString(n.Value, lookup)
		if len(missing) > 0 {
			if len(missing) == 1 {
				k.add(n, path, "environment variable %s is not set", missing[0])
			} else {
				k.add(n, path, "environment variables %s are not set", strings.Join(missing, ", "))
			}
			return
		}
		n.Value = v
		if n.Style&(yaml.TaggedStyle|yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			n.Tag = "" // resolved again from the new value
		}
	}
	// Aliases are expanded where their anchor is.
}
