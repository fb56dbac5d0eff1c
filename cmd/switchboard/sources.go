package main

import (
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/ami"
	"github.com/switchboard/switchboard/monitor/esl"
	"github.com/switchboard/switchboard/monitor/fritz"
)

// replayers are the recording formats `switchboard replay` reads.
var replayers = map[string]replayFunc{
	"fritz": fritz.Replay,
	"ami":   ami.Replay,
	"esl":   esl.Replay,
}

// sourceType is one `type:` of the sources list: the configuration its
// entries decode into and how the source is made from it.
type sourceType struct {
	name string
	// config is the Go type of an entry; its yaml tags are the keys.
	config reflect.Type
	// validate decodes an entry and checks it with the package's own
	// Validate, when it has one.
	validate func(n *yaml.Node) error
	build    func(n *yaml.Node, env buildEnv) (monitor.Source, error)
}

// buildEnv is what serve hands every source it builds.
type buildEnv struct {
	log      *slog.Logger
	counters *monitor.Counters
	// keys hands out the call keys of sources whose own ids repeat.
	keys monitor.KeyAllocator
}

// newSourceType describes the source type name, whose entries decode
// into C and are made into sources by build.
func newSourceType[C any, S monitor.Source](name string, build func(C, buildEnv) (S, error)) sourceType {
	return sourceType{
		name:   name,
		config: reflect.TypeFor[C](),
		validate: func(n *yaml.Node) error {
			var c C
			if err := decodeNode(n, &c); err != nil {
				return err
			}
			if v, ok := any(c).(interface{ Validate() error }); ok {
				return v.Validate()
			}
			return nil
		},
		build: func(n *yaml.Node, env buildEnv) (monitor.Source, error) {
			var c C
			if err := decodeNode(n, &c); err != nil {
				return nil, err
			}
			s, err := build(c, env)
			if err != nil {
				return nil, err // not s: a nil *T in an interface is not nil
			}
			return s, nil
		},
	}
}

// sourceTypes are the source types, in the order messages list them. It
// is filled in init: the checker that decodes the entries lists these
// types in its messages.
var sourceTypes []sourceType

func init() {
	sourceTypes = []sourceType{
		newSourceType("fritz", func(c fritz.Config, e buildEnv) (*fritz.Source, error) {
			return fritz.New(c, fritz.WithLogger(e.log), fritz.WithCounters(e.counters), fritz.WithKeys(e.keys))
		}),
		newSourceType("demo", func(c fritz.DemoConfig, e buildEnv) (*fritz.Demo, error) {
			return fritz.NewDemo(c, fritz.WithLogger(e.log), fritz.WithCounters(e.counters), fritz.WithKeys(e.keys))
		}),
		newSourceType("ami", func(c ami.Config, e buildEnv) (*ami.Source, error) {
			return ami.New(c, ami.WithLogger(e.log), ami.WithCounters(e.counters))
		}),
		newSourceType("ami-replay", func(c ami.ReplayConfig, _ buildEnv) (*ami.ReplaySource, error) {
			return ami.NewReplaySource(c)
		}),
		newSourceType("esl", func(c esl.Config, e buildEnv) (*esl.Source, error) {
			return esl.New(c, esl.WithLogger(e.log), esl.WithCounters(e.counters))
		}),
		newSourceType("esl-outbound", func(c esl.ListenerConfig, e buildEnv) (*esl.Listener, error) {
			return esl.NewListener(c, esl.WithLogger(e.log), esl.WithCounters(e.counters))
		}),
	}
}

func lookupSourceType(name string) (sourceType, bool) {
	for _, st := range sourceTypes {
		if st.name == name {
			return st, true
		}
	}
	return sourceType{}, false
}

func sourceTypeNames() []string {
	names := make([]string, len(sourceTypes))
	for i, st := range sourceTypes {
		names[i] = st.name
	}
	return names
}

// sourceTypesWithKey lists the source types that take key.
func sourceTypesWithKey(key string) []string {
	var out []string
	for _, st := range sourceTypes {
		if slices.Contains(keysOf(fieldsOf(st.config)), key) {
			out = append(out, st.name)
		}
	}
	return out
}

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// sourceHead is what every entry of the sources list has.
type sourceHead struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
}

// checkSources checks the entries of the sources list (node n, a
// sequence) against the keys of their types, then each with its
// package's Validate.
func (k *checker) checkSources(n *yaml.Node) {
	n = resolve(n)
	if n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		k.add(n, "sources", "want a list of sources (lines starting with - below it), not %s", describe(n))
		return
	}
	names := map[string]*yaml.Node{}
	for i, item := range n.Content {
		path := itemPath("sources", i)
		before := len(k.problems)
		item = resolve(item)
		if item.Kind != yaml.MappingNode {
			k.add(item, path, "want a source (name:, type: and its keys), not %s", describe(item))
			continue
		}
		_, nameNode := lookupKey(item, "name")
		typeKey, typeNode := lookupKey(item, "type")
		switch {
		case nameNode == nil || nameNode.Value == "":
			k.add(item, path, "name is required")
		case names[nameNode.Value] != nil:
			k.add(nameNode, keyPath(path, "name"), "`%s` is the name of another source too (line %d)", nameNode.Value, names[nameNode.Value].Line)
		default:
			names[nameNode.Value] = nameNode
		}
		if typeNode == nil || typeNode.Value == "" {
			at := item
			if typeKey != nil {
				at = typeKey
			}
			k.add(at, keyPath(path, "type"), "type is required: %s", orList(sourceTypeNames()))
			continue
		}
		st, ok := lookupSourceType(typeNode.Value)
		if !ok {
			msg := "unknown source type; want " + orList(sourceTypeNames())
			if s := closest(typeNode.Value, sourceTypeNames()); s != "" {
				msg = fmt.Sprintf("unknown source type; did you mean `%s`? (want %s)", s, orList(sourceTypeNames()))
			}
			k.add(typeNode, keyPath(path, "type"), "%s", msg)
			continue
		}
		k.mapping(item, fieldsOf(st.config), path, st.name)
		if len(k.problems) > before {
			continue
		}
		if err := st.validate(item); err != nil {
			name := ""
			if nameNode != nil {
				name = nameNode.Value
			}
			// The packages name the source in their messages ("ami pbx:",
			// "fritz source home:"); the path says it already.
			strip := []string{monitor.ErrInvalidConfig.Error(), st.name + " source " + name, st.name + " " + name, st.name}
			k.problems = append(k.problems, validationProblem(item, path, err, strip...))
		}
	}
}

// buildSource makes the source one `sources:` entry describes, decoding
// the entry strictly into its package's Config. keys hands out the call
// keys of sources whose own ids repeat (the Fritz!Box's).
func buildSource(n *yaml.Node, hub *monitor.Hub, keys monitor.KeyAllocator, log *slog.Logger) (monitor.Source, error) {
	var head sourceHead
	if err := n.Decode(&head); err != nil {
		return nil, err
	}
	st, ok := lookupSourceType(head.Type)
	if !ok {
		return nil, fmt.Errorf("source %s: unknown type %q (want %s)", head.Name, head.Type, orList(sourceTypeNames()))
	}
	// The one place a source's log lines get their component and source:
	// the packages add neither.
	l := log.With("component", head.Type, "source", head.Name)
	src, err := st.build(n, buildEnv{log: l, counters: hub.Counters(monitor.SourceName(head.Name)), keys: keys})
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", head.Name, err)
	}
	return src, nil
}
