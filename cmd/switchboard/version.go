package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
)

func init() {
	register(command{
		name:    "version",
		summary: "print the version, the commit it was built from and its date",
		about: "The version and commit come from the build information the Go toolchain puts in\n" +
			"the binary. A build without version control information (GOFLAGS=-buildvcs=false,\n" +
			"a git worktree) says so, unless it was built with `make build`, which adds them.",
		run: runVersion,
	})
}

// vcsRevision, vcsTime and vcsModified stand in for the build
// information's vcs.revision, vcs.time and vcs.modified when the
// toolchain stamped none: the Makefile sets them from git with -ldflags
// -X.
var (
	vcsRevision string
	vcsTime     string
	vcsModified string
)

// buildVersion is what `switchboard version` tells of a binary.
type buildVersion struct {
	// version is the module version: a tag, a pseudo-version, or
	// "(devel)" for a build from a checkout.
	version string
	// commit and date are the commit's hash and time (RFC 3339); "" when
	// unknown.
	commit, date string
	// modified says the checkout had changes beyond the commit.
	modified bool
	// goVersion and platform are the toolchain and the target.
	goVersion, platform string
}

// readBuildVersion reads the running binary's build information.
func readBuildVersion() buildVersion {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return versionOf(bi, vcsRevision, vcsTime, vcsModified)
}

// versionOf reads bi (nil when the binary has none); rev, date and
// modified are the Makefile's stand-ins, used where bi has no VCS stamp.
func versionOf(bi *debug.BuildInfo, rev, date, modified string) buildVersion {
	v := buildVersion{version: "(devel)"}
	settings := map[string]string{}
	if bi != nil {
		if bi.Main.Version != "" {
			v.version = bi.Main.Version
		}
		v.goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
	}
	if settings["vcs.revision"] == "" {
		settings["vcs.revision"], settings["vcs.time"], settings["vcs.modified"] = rev, date, modified
	}
	v.commit, v.date = settings["vcs.revision"], settings["vcs.time"]
	v.modified, _ = strconv.ParseBool(settings["vcs.modified"])
	if settings["GOOS"] != "" {
		v.platform = settings["GOOS"] + "/" + settings["GOARCH"]
	}
	return v
}

// print writes the version as `switchboard version` shows it.
func (v buildVersion) print(w io.Writer) {
	fmt.Fprintf(w, "switchboard %s\n", v.version)
	switch {
	case v.commit == "":
		fmt.Fprintln(w, "commit:  unknown (built without version control information; `make build` adds it)")
	case v.modified:
		fmt.Fprintf(w, "commit:  %s, with uncommitted changes\n", v.commit)
	default:
		fmt.Fprintf(w, "commit:  %s\n", v.commit)
	}
	if v.date != "" {
		fmt.Fprintf(w, "date:    %s\n", v.date)
	} else {
		fmt.Fprintln(w, "date:    unknown")
	}
	if v.goVersion != "" {
		fmt.Fprintf(w, "go:      %s %s\n", v.goVersion, v.platform)
	}
}

func runVersion(_ context.Context, sio stdio, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := parseFlags(fs, args, sio); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("version takes no arguments")
	}
	readBuildVersion().print(sio.out)
	return nil
}
