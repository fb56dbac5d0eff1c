package main

import (
	"fmt"
	"log/slog"

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

// buildSource makes the source one `sources:` entry describes, decoding
// the entry strictly into its package's Config. keys hands out the call
// keys of sources whose own ids repeat (the Fritz!Box's).
func buildSource(n *yaml.Node, hub *monitor.Hub, keys monitor.KeyAllocator, log *slog.Logger) (monitor.Source, error) {
	var head struct {
		Name string `yaml:"name"`
		Type string `yaml:"type"`
	}
	if err := n.Decode(&head); err != nil {
		return nil, err
	}
	counters := hub.Counters(monitor.SourceName(head.Name))
	l := log.With("component", head.Type, "source", head.Name)
	switch head.Type {
	case "fritz":
		var cfg fritz.Config
		if err := decodeNode(n, &cfg); err != nil {
			return nil, fmt.Errorf("source %s: %w", head.Name, err)
		}
		return fritz.New(cfg, fritz.WithLogger(l), fritz.WithCounters(counters), fritz.WithKeys(keys))
	case "demo":
		var cfg fritz.DemoConfig
		if err := decodeNode(n, &cfg); err != nil {
			return nil, fmt.Errorf("source %s: %w", head.Name, err)
		}
		return fritz.NewDemo(cfg, fritz.WithLogger(l), fritz.WithCounters(counters), fritz.WithKeys(keys))
	case "ami":
		var cfg ami.Config
		if err := decodeNode(n, &cfg); err != nil {
			return nil, fmt.Errorf("source %s: %w", head.Name, err)
		}
		return ami.New(cfg, ami.WithLogger(l), ami.WithCounters(counters))
	case "ami-replay":
		var cfg ami.ReplayConfig
		if err := decodeNode(n, &cfg); err != nil {
			return nil, fmt.Errorf("source %s: %w", head.Name, err)
		}
		return ami.NewReplaySource(cfg)
	case "esl":
		var cfg esl.Config
		if err := decodeNode(n, &cfg); err != nil {
			return nil, fmt.Errorf("source %s: %w", head.Name, err)
		}
		return esl.New(cfg, esl.WithLogger(l), esl.WithCounters(counters))
	case "esl-outbound":
		var cfg esl.ListenerConfig
		if err := decodeNode(n, &cfg); err != nil {
			return nil, fmt.Errorf("source %s: %w", head.Name, err)
		}
		return esl.NewListener(cfg, esl.WithLogger(l), esl.WithCounters(counters))
	default:
		return nil, fmt.Errorf("source %s: unknown type %q (want fritz, demo, ami, ami-replay, esl or esl-outbound)", head.Name, head.Type)
	}
}
