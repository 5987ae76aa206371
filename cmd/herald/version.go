package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// version is set at link time by a release build
// (-ldflags "-X main.version=v1.2.3"); otherwise the module's build info
// says what was built.
var version = "dev"

// versionString is Herald's version: the stamped one, else the module
// version Go recorded (a tag for `go install ...@v1.2.3`, a pseudo-version
// for a build from a git checkout), with the commit when Go recorded it.
func versionString() string {
	return describeBuild(version, readBuildInfo())
}

// shortVersion is the version alone, for the User-Agent and the API.
func shortVersion() string {
	v, _, _ := strings.Cut(versionString(), " ")
	return v
}

func readBuildInfo() *debug.BuildInfo {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	return info
}

func describeBuild(stamped string, info *debug.BuildInfo) string {
	v := stamped
	if info == nil {
		return v
	}
	if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if modified == "true" {
			rev += "+dirty"
		}
		v += fmt.Sprintf(" (commit %s", rev)
		if info.GoVersion != "" {
			v += ", " + info.GoVersion
		}
		v += ")"
	} else if info.GoVersion != "" {
		v += " (" + info.GoVersion + ")"
	}
	return v
}
