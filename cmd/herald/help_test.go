package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime/debug"
	"sort"
	"strings"
	"testing"
)

// The --help of each command lists the HERALD_* variables it reads, with
// their defaults.
func TestHelpListsEachCommandsVariables(t *testing.T) {
	cases := map[string][]string{
		"dev":     {"HERALD_DATA_DIR (default ./.herald)", "HERALD_DEV_TEMPORAL_ADDR (default 127.0.0.1:7233)", "HERALD_LOG_FORMAT (default text)"},
		"api":     {"HERALD_TEMPORAL_ADDRESS", "HERALD_TEMPORAL_TLS_CERT", "HERALD_TEMPORAL_API_KEY", "HERALD_EAGER_START (default true)", "HERALD_WORKER_WORKFLOW_TASKS (default 1024)"},
		"worker":  {"HERALD_HTTP_ADDR (default 127.0.0.1:8080)", "HERALD_WORKER_POLLERS (default 4)", "HERALD_TEMPORAL_REGISTER_SEARCH_ATTRIBUTES (default false)", "--register-search-attributes"},
		"migrate": {"HERALD_DATABASE_URL"},
		"events":  {"HERALD_API_URL", "HERALD_API_TOKEN", "HERALD_DATA_DIR (default ./.herald)", "cancel", "replay"},
	}
	for cmd, wants := range cases {
		var out bytes.Buffer
		if err := run(context.Background(), []string{cmd, "--help"}, func(string) string { return "" }, &out, &out); err != nil {
			t.Fatalf("%s --help: %v", cmd, err)
		}
		for _, w := range wants {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s --help lacks %q:\n%s", cmd, w, out.String())
			}
		}
	}
	var out bytes.Buffer
	_ = run(context.Background(), []string{"migrate", "--help"}, func(string) string { return "" }, &out, &out)
	if strings.Contains(out.String(), "HERALD_DEV_UI_ADDR") {
		t.Errorf("migrate --help lists dev's variables")
	}
}

// The table --help prints is the list of record: every variable loadConfig
// reads is in it, and it claims a command reads a variable only if it does.
func TestSettingsTableMatchesConfig(t *testing.T) {
	inTable := map[string]setting{}
	for _, s := range settings() {
		inTable[s.name] = s
	}
	for _, m := range []mode{modeDev, modeAPI, modeWorker, modeMigrate} {
		read := map[string]bool{}
		_, _ = loadConfig(func(k string) string { read[k] = true; return "" }, m)
		var missing []string
		for name := range read {
			if _, ok := inTable[name]; !ok {
				missing = append(missing, name)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("variables read in mode %d but not in settings(): %v", m, missing)
		}
		for _, s := range settings() {
			if hasMode(s.modes, m) && !read[s.name] {
				t.Errorf("settings() says mode %d reads %s, but loadConfig does not", m, s.name)
			}
		}
	}
}

func TestVersionFromBuildInfo(t *testing.T) {
	cases := []struct {
		stamped string
		info    *debug.BuildInfo
		want    string
	}{
		{"dev", nil, "dev"},
		{"v1.4.0", &debug.BuildInfo{Main: debug.Module{Version: "v1.3.0"}}, "v1.4.0"},
		{"dev", &debug.BuildInfo{GoVersion: "go1.26.10", Main: debug.Module{Version: "v1.3.0"}}, "v1.3.0 (go1.26.10)"},
		{"dev", &debug.BuildInfo{GoVersion: "go1.26.10", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: "true"}}},
			"dev (commit 0123456789ab+dirty, go1.26.10)"},
		{"dev", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261202050000-0123456789ab"}}, "v0.0.0-20261202050000-0123456789ab"},
	}
	for _, c := range cases {
		if got := describeBuild(c.stamped, c.info); got != c.want {
			t.Errorf("describeBuild(%q, %+v) = %q, want %q", c.stamped, c.info, got, c.want)
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatal(err)
	}
	// A test binary has build info with the Go version at least.
	if !strings.HasPrefix(out.String(), "herald ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("herald version printed %q", out.String())
	}
}

func TestLogFormatJSON(t *testing.T) {
	var buf bytes.Buffer
	newFormatLogger(&buf, "info", "json").Info("hello", "k", 1)
	newFormatLogger(&buf, "info", "json").Debug("hidden")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON object: %q: %v", buf.String(), err)
	}
	if rec["msg"] != "hello" || rec["k"] != float64(1) || rec["level"] != "INFO" {
		t.Errorf("record = %v", rec)
	}
}
