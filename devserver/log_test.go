package devserver

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"go.temporal.io/server/common/log/tag"
)

// With's tags reach every record of the logger it returns, after the
// tags of its parent, and loggers made from one parent do not share tags.
func TestServerLoggerWith(t *testing.T) {
	var b bytes.Buffer
	base := serverLogger{l: slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	parent := base.With(tag.NewStringTag("shard", "1")).(serverLogger)
	a := parent.With(tag.NewStringTag("wf", "a"))
	c := parent.With(tag.NewStringTag("wf", "c"))

	a.Info("from a", tag.NewInt("n", 1))
	c.Warn("from c")
	a.Debug("dropped", tag.NewStringTag("x", "y"))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 records, got:\n%s", b.String())
	}
	if !strings.Contains(lines[0], `msg="from a" shard=1 wf=a n=1`) {
		t.Errorf("record of a: %s", lines[0])
	}
	if !strings.Contains(lines[1], `msg="from c" shard=1 wf=c`) || strings.Contains(lines[1], "wf=a") {
		t.Errorf("record of c: %s", lines[1])
	}
}
