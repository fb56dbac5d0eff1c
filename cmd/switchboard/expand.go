package main

import (
	"fmt"
	"os"
	"regexp"
)

// envRef matches ${NAME}. Only the braced form is expanded, so bcrypt
// hashes ("$2a$10$…") and other dollar signs pass through untouched.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces every ${NAME} in the configuration text by the
// environment variable's value. An unset variable is an error: an empty
// token or password must never be configured by accident.
func expandEnv(text []byte, lookup func(string) (string, bool)) ([]byte, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var missing []string
	out := envRef.ReplaceAllFunc(text, func(m []byte) []byte {
		name := string(envRef.FindSubmatch(m)[1])
		v, ok := lookup(name)
		if !ok {
			missing = append(missing, name)
			return m
		}
		return []byte(v)
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %v", errUnsetEnv, missing)
	}
	return out, nil
}
