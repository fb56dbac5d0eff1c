package main

import (
	"bytes"
	"cmp"
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// errInvalidConfig is what every configuration problem wraps.
var errInvalidConfig = errors.New("invalid configuration")

// configProblem is one thing wrong in a configuration file, and where.
type configProblem struct {
	// line and col are 1-based; 0 when the place is not known (col alone
	// is 0 for syntax errors, which yaml.v3 reports by line).
	line, col int
	// path is the key path, such as sources[0].adress; "" for the file
	// as a whole.
	path string
	msg  string
}

func (p configProblem) format(file string) string {
	s := file
	if p.line > 0 {
		s += ":" + strconv.Itoa(p.line)
		if p.col > 0 {
			s += ":" + strconv.Itoa(p.col)
		}
	}
	if p.path != "" {
		s += ": " + p.path
	}
	return s + ": " + p.msg
}

// configError is every problem found in one configuration file.
type configError struct {
	file     string
	problems []configProblem
}

func (e *configError) Error() string {
	// In the order of the file; those without a line last.
	slices.SortStableFunc(e.problems, func(a, b configProblem) int {
		if (a.line == 0) != (b.line == 0) {
			return b.line - a.line
		}
		return cmp.Or(a.line-b.line, a.col-b.col)
	})
	if len(e.problems) == 1 {
		return "config " + e.problems[0].format(e.file)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "config %s has %d problems:", e.file, len(e.problems))
	for _, p := range e.problems {
		b.WriteString("\n  " + p.format(e.file))
	}
	return b.String()
}

func (e *configError) Unwrap() error { return errInvalidConfig }

// checker walks a configuration's YAML tree against the Go types it is
// decoded into, so that every problem can be told with its line, column
// and key path, and in words rather than in Go's type names.
type checker struct {
	problems []configProblem
}

func (k *checker) add(n *yaml.Node, path, format string, args ...any) {
	p := configProblem{path: path, msg: fmt.Sprintf(format, args...)}
	if n != nil {
		p.line, p.col = n.Line, n.Column
	}
	k.problems = append(k.problems, p)
}

// keyPath joins a parent path and a key.
func keyPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func itemPath(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }

var (
	nodeType        = reflect.TypeFor[yaml.Node]()
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// schemaField is one key a struct takes.
type schemaField struct {
	key string
	typ reflect.Type
}

// fieldsOf lists the keys of struct t as yaml.v3 decodes them: the tag's
// name or the lower-cased field name, the fields of `,inline` structs
// beside t's own, fields tagged "-" and unexported ones left out.
func fieldsOf(t reflect.Type) []schemaField {
	var out []schemaField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" || (f.PkgPath != "" && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if slices.Contains(strings.Split(opts, ","), "inline") && ft.Kind() == reflect.Struct {
			out = append(out, fieldsOf(ft)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, schemaField{key: name, typ: f.Type})
	}
	return out
}

func keysOf(fields []schemaField) []string {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	return keys
}

// resolve follows an alias to its anchor.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for "want X, not Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "keys with values"
	case yaml.SequenceNode:
		return "a list"
	}
	return "`" + n.Value + "`"
}

// isLeaf reports whether values of t are single values that decode by
// their own rules.
func isLeaf(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return p.Implements(unmarshalerType) || p.Implements(textType) || t == durationType
}

// check walks value node n against type t at path. Nodes of type
// yaml.Node are left to whoever decodes them (the sources list, whose
// entries take the keys of their type).
func (k *checker) check(n *yaml.Node, t reflect.Type, path string) {
	n = resolve(n)
	if n == nil || isNull(n) {
		return // an empty value leaves the default
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nodeType {
		return
	}
	if isLeaf(t) {
		k.leaf(n, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		k.mapping(n, fieldsOf(t), path, "")
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			k.leaf(n, t, path)
			return
		}
		if n.Kind != yaml.SequenceNode {
			hint := ""
			if n.Kind == yaml.ScalarNode {
				hint = fmt.Sprintf("; for a list of one, write [%s]", n.Value)
			}
			k.add(n, path, "want a list (lines starting with - below it, or [a, b]), not %s%s", describe(n), hint)
			return
		}
		for i, item := range n.Content {
			k.check(item, t.Elem(), itemPath(path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			k.add(n, path, "want keys with values, not %s", describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k.check(n.Content[i+1], t.Elem(), keyPath(path, n.Content[i].Value))
		}
	case reflect.Interface:
	default:
		k.leaf(n, t, path)
	}
}

// mapping checks the keys of n against fields: unknown and repeated keys,
// then each value. what names the kind of entry for messages about keys
// that belong to another kind ("fritz source"); "" for plain sections.
func (k *checker) mapping(n *yaml.Node, fields []schemaField, path, what string) {
	if n.Kind != yaml.MappingNode {
		k.add(n, path, "want keys with values (key: value, on lines indented below it), not %s", describe(n))
		return
	}
	byKey := map[string]schemaField{}
	for _, f := range fields {
		byKey[f.key] = f
	}
	seen := map[string]*yaml.Node{}
	var walk func(m *yaml.Node)
	walk = func(m *yaml.Node) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			key, val := m.Content[i], m.Content[i+1]
			if key.Kind == yaml.ScalarNode && key.ShortTag() == "!!merge" {
				// `<<: *defaults` (or a list of them) merges keys in.
				v := resolve(val)
				switch v.Kind {
				case yaml.MappingNode:
					walk(v)
				case yaml.SequenceNode:
					for _, item := range v.Content {
						if item = resolve(item); item.Kind == yaml.MappingNode {
							walk(item)
						}
					}
				}
				continue
			}
			p := keyPath(path, key.Value)
			if key.Kind != yaml.ScalarNode {
				k.add(key, path, "a key must be a name, not %s", describe(key))
				continue
			}
			f, ok := byKey[key.Value]
			if !ok {
				k.add(key, p, "%s", unknownKey(key.Value, keysOf(fields), what, p))
				continue
			}
			if m == n {
				// Keys merged in may be given again: those given here win.
				if first, dup := seen[key.Value]; dup {
					k.add(key, p, "given twice (first on line %d)", first.Line)
					continue
				}
				seen[key.Value] = key
			}
			k.check(val, f.typ, p)
		}
	}
	walk(n)
}

// unknownKey says what is wrong with key: the closest valid key, or
// where else the key belongs, or the keys there are. what is the source
// type of a sources entry, "" elsewhere.
func unknownKey(key string, valid []string, what, path string) string {
	if s := closest(key, valid); s != "" {
		return fmt.Sprintf("unknown key; did you mean `%s`?", s)
	}
	here := "the keys here are "
	if what != "" {
		here = fmt.Sprintf("the keys of type %s are ", what)
		if other := sourceTypesWithKey(key); len(other) > 0 {
			return fmt.Sprintf("unknown key for type %s (type %s takes it); %s%s", what, orList(other), here, listKeys(valid))
		}
	}
	if places := placesOf(key, path); len(places) > 0 {
		return fmt.Sprintf("unknown key here; it belongs %s", orList(places))
	}
	return "unknown key; " + here + listKeys(valid)
}

// placesOf lists where else in the configuration key is one: "at the
// top", "under sip", "in each entry of users". path is where it was
// found, left out.
func placesOf(key, path string) []string {
	var out []string
	top := fieldsOf(reflect.TypeFor[config]())
	if path != key && slices.Contains(keysOf(top), key) {
		out = append(out, "at the top")
	}
	for _, f := range top {
		t := f.typ
		entry := false
		if t.Kind() == reflect.Slice {
			t, entry = t.Elem(), true
		}
		if t.Kind() != reflect.Struct || isLeaf(t) || t == nodeType || strings.HasPrefix(path, f.key) {
			continue
		}
		if slices.Contains(keysOf(fieldsOf(t)), key) {
			if entry {
				out = append(out, "in each entry of "+f.key)
			} else {
				out = append(out, "under "+f.key)
			}
		}
	}
	if !strings.HasPrefix(path, "sources") {
		if types := sourceTypesWithKey(key); len(types) > 0 {
			out = append(out, "in the entries of sources (of type "+orList(types)+")")
		}
	}
	return out
}

func listKeys(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = "`" + k + "`"
	}
	return strings.Join(q, ", ")
}

// leaf checks a single value by decoding it into t, and says in words
// what is wrong with it.
func (k *checker) leaf(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode && !reflect.PointerTo(t).Implements(unmarshalerType) {
		k.add(n, path, "want a single value, not %s", describe(n))
		return
	}
	v := reflect.New(t)
	err := n.Decode(v.Interface())
	if err == nil {
		return
	}
	k.add(n, path, "%s", valueError(n, t, err))
}

// valueError puts the error of decoding n into t in words.
func valueError(n *yaml.Node, t reflect.Type, err error) string {
	v := "`" + n.Value + "`"
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		// A type's own UnmarshalYAML or UnmarshalText speaks for itself.
		return cleanYAMLError(err.Error())
	}
	switch {
	case t == durationType:
		return v + " is not a duration; write it with its unit, such as 30s, 5m or 1h30m"
	case t.Kind() == reflect.Bool:
		return v + " is not true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		if n.ShortTag() == "!!int" {
			bits := t.Bits()
			return fmt.Sprintf("%s is out of range: from %d to %d", v, int64(-1)<<(bits-1), int64(1)<<(bits-1)-1)
		}
		return v + " is not a whole number"
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr:
		if n.ShortTag() == "!!int" {
			return fmt.Sprintf("%s is out of range: from 0 to %d", v, uint64(1)<<t.Bits()-1)
		}
		return v + " is not a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return v + " is not a number"
	case t.Kind() == reflect.String:
		return "want text, not " + describe(n)
	}
	return v + " is not valid here"
}

// yamlLine matches the position yaml.v3 puts in its messages.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?(?:unmarshal errors:\s*)?line (\d+): `)

// cleanYAMLError drops yaml.v3's "yaml: " and "line N: " prefixes from
// a message whose position is told otherwise.
func cleanYAMLError(s string) string {
	s = yamlLine.ReplaceAllString(s, "")
	return strings.TrimPrefix(s, "yaml: ")
}

// goTypeError is a yaml.v3 type error that names a Go type.
var goTypeError = regexp.MustCompile("^line (\\d+): (?:cannot unmarshal !!(\\w+) `(.*)` into (\\S+)|field (\\S+) not found in type \\S+|(.*))$")

// decodeProblems turns the error of a decode the checker let through
// (it should not happen: the checker knows the same rules) into
// problems with lines and without Go type names.
func decodeProblems(err error, path string) []configProblem {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []configProblem{{path: path, msg: cleanYAMLError(err.Error())}}
	}
	var out []configProblem
	for _, e := range te.Errors {
		m := goTypeError.FindStringSubmatch(e)
		if m == nil {
			out = append(out, configProblem{path: path, msg: e})
			continue
		}
		line, _ := strconv.Atoi(m[1])
		p := configProblem{line: line, path: path}
		switch {
		case m[4] != "":
			p.msg = fmt.Sprintf("`%s` is not a valid value here", m[3])
		case m[5] != "":
			p.msg = fmt.Sprintf("unknown key `%s`", m[5])
		default:
			p.msg = m[6]
		}
		out = append(out, p)
	}
	return out
}

// syntaxHints put yaml.v3's syntax errors in words.
var syntaxHints = map[string]string{
	"mapping values are not allowed in this context":  "a `key: value` where none can be: is the line indented too far, or does a value hold `: ` and want quotes?",
	"found a tab character that violates indentation": "a tab in the indentation: YAML is indented with spaces only",
	"found character that cannot start any token":     "a character that cannot start a value here (a tab in the indentation? values starting with @ or ` want quotes)",
	"did not find expected key":                       "a line is indented differently from the keys beside it",
	"did not find expected '-' indicator":             "a list item (- …) was expected: the items of a list are indented alike",
	"did not find expected ',' or ']'":                "a list opened with [ is still open here: close it with ]",
	"did not find expected ',' or '}'":                "a map opened with { is still open here: close it with }",
	"could not find expected ':'":                     "a key without its `:`, or a value over several lines that is not indented",
	"found unexpected end of stream":                  "a quoted value is not closed (the file ends inside it)",
	"did not find expected node content":              "a value is missing",
}

var (
	unknownAnchor = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)
	yamlSyntax    = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// syntaxProblem turns a yaml.v3 syntax error into a problem at its real
// line, in words; text is the configuration, to find what yaml.v3 does
// not place.
func syntaxProblem(err error, text []byte) configProblem {
	s := err.Error()
	if m := unknownAnchor.FindStringSubmatch(s); m != nil {
		p := configProblem{msg: fmt.Sprintf("*%s refers to no anchor &%s above it", m[1], m[1])}
		for i, l := range yamlLines(text) {
			if c := bytes.Index(l, []byte("*"+m[1])); c >= 0 {
				p.line, p.col = i+1, c+1
				break
			}
		}
		return p
	}
	m := yamlSyntax.FindStringSubmatch(s)
	if m == nil {
		return configProblem{msg: strings.TrimPrefix(s, "yaml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	if l := brokenLine(text); l > 0 {
		line = l
	}
	msg := m[2]
	if h, ok := syntaxHints[msg]; ok {
		msg = h
	}
	return configProblem{line: line, msg: msg}
}

// maxSyntaxSearch bounds brokenLine's search, which parses the file once
// per line.
const maxSyntaxSearch = 5000

// brokenLine returns the line where text stops being YAML: the line after
// its longest beginning that parses. yaml.v3's own line is often another
// (the line where the construct began, 0-based, or the end of the file
// for a quote never closed). A beginning that breaks off inside a
// multi-line quote or [list] does not parse, but a longer one may again,
// hence the longest. 0 when text is too long to search, or parses.
func brokenLine(text []byte) int {
	lines := yamlLines(text)
	if len(lines) > maxSyntaxSearch {
		return 0
	}
	good, end := 0, 0 // good: the lines of the longest beginning that parses
	for k, l := range lines {
		end += len(l)
		var n yaml.Node
		if yaml.Unmarshal(text[:end], &n) == nil {
			good = k + 1
		}
	}
	if good >= len(lines) {
		return 0
	}
	return good + 1
}

// locate finds in a Validate message the key it is about: a leading key
// path (users[1], sip) and then, word by word, keys present under it
// (users[0] anna: role "x" is about users[0].role). It returns that
// key's node and path, the message without the words used for the path
// when they lead it, and nil when no key of n is named.
func locate(n *yaml.Node, path, msg string) (*yaml.Node, string, string) {
	var at *yaml.Node
	rest := msg
	leading := true
	for _, word := range strings.FieldsFunc(msg, func(r rune) bool { return strings.ContainsRune(" :,\"()`", r) }) {
		name, idx, hasIdx := word, 0, false
		if i := strings.IndexByte(word, '['); i > 0 && strings.HasSuffix(word, "]") {
			v, err := strconv.Atoi(word[i+1 : len(word)-1])
			if err == nil {
				name, idx, hasIdx = word[:i], v, true
			}
		}
		key, val := lookupKey(n, name)
		if key == nil {
			leading = false
			continue
		}
		at, n, path = key, val, keyPath(path, name)
		if v := resolve(val); v != nil && v.Kind == yaml.ScalarNode && !isNull(v) {
			at = v // a value is wrong: point at it
		}
		if hasIdx {
			if v := resolve(val); v != nil && v.Kind == yaml.SequenceNode && idx < len(v.Content) {
				at, n, path = v.Content[idx], v.Content[idx], itemPath(path, idx)
			}
		}
		if leading {
			rest = strings.TrimLeft(strings.TrimPrefix(rest, word), " :")
		}
	}
	if rest == "" {
		rest = msg
	}
	return at, path, rest
}

// lookupKey returns the key and value nodes of name in mapping n, or in
// the mappings merged into it (<<: *anchor); nil, nil when n has none.
func lookupKey(n *yaml.Node, name string) (key, val *yaml.Node) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			v := resolve(n.Content[i+1])
			if v.Kind == yaml.SequenceNode {
				merged = append(merged, v.Content...)
			} else {
				merged = append(merged, v)
			}
			continue
		}
		if k.Value == name {
			return k, n.Content[i+1]
		}
	}
	for _, m := range merged {
		if k, v := lookupKey(m, name); k != nil {
			return k, v
		}
	}
	return nil, nil
}

// validationProblem places err, a section's Validate error, at the key
// it names under section (node n at path), with the packages' sentinel
// wording taken off.
func validationProblem(n *yaml.Node, path string, err error, strip ...string) configProblem {
	msg := err.Error()
	for _, s := range strip {
		msg = strings.ReplaceAll(msg, s+": ", "")
	}
	at, p, rest := locate(n, path, msg)
	if at == nil {
		at = n
	}
	pr := configProblem{path: p, msg: rest}
	if at != nil {
		pr.line, pr.col = at.Line, at.Column
	}
	return pr
}

// normalizeBreaks turns the line breaks yaml.v3 reads as a line feed (CR
// LF, a lone CR as old Mac editors write, NEL) into one, so that the
// lines the checker counts in the text are the lines yaml.v3 reports
// (and the file's editor shows). The values are what they were: yaml.v3
// reads each of these breaks as LF anyway.
func normalizeBreaks(b []byte) []byte {
	lf := []byte("\n")
	b = bytes.ReplaceAll(b, []byte("\r\n"), lf)
	b = bytes.ReplaceAll(b, []byte("\r"), lf)
	return bytes.ReplaceAll(b, []byte("\u0085"), lf)
}

// yamlLines splits text (with normalizeBreaks' breaks) into its lines as
// yaml.v3 counts them, each with its break: LF, and the LS and PS YAML
// 1.1 also ends a line at (kept in values as they are).
func yamlLines(text []byte) [][]byte {
	var lines [][]byte
	for len(text) > 0 {
		end := len(text)
		if i := bytes.IndexFunc(text, func(r rune) bool { return r == '\n' || r == '\u2028' || r == '\u2029' }); i >= 0 {
			_, size := utf8.DecodeRune(text[i:])
			end = i + size
		}
		lines = append(lines, text[:end])
		text = text[end:]
	}
	return lines
}
