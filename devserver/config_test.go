package devserver

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"go.temporal.io/server/common/dynamicconfig"
)

// The server's caches are sized for a cluster host; these are the bounds
// for one process (docs/devserver-tuning.md has the soak behind them).
func TestDynamicConfigSizesCachesForOneProcess(t *testing.T) {
	dc := dynamicConfig(defaultTuning())
	for _, c := range []struct {
		key  dynamicconfig.Key
		want any
	}{
		{dynamicconfig.HistoryCacheHostLevelMaxSize.Key(), 1024},                     // server default 128,000
		{dynamicconfig.HistoryCacheTTL.Key(), 10 * time.Minute},                      // an hour
		{dynamicconfig.EventsCacheMaxSizeBytes.Key(), 512 << 10},                     // the shard's events cache
		{dynamicconfig.XDCCacheMaxSizeBytes.Key(), 64 << 10},                         // 8 MiB, for replication
		{dynamicconfig.ReplicationProcessorSchedulerWorkerCount.Key(), 1},            // 512 goroutines
		{dynamicconfig.ReplicationLowPriorityProcessorSchedulerWorkerCount.Key(), 1}, // 128
	} {
		if got, ok := dc[c.key]; !ok || got != c.want {
			t.Errorf("%s = %v (set: %v), want %v", c.key, got, ok, c.want)
		}
	}
	// Bounded by entries: the size-based cache races (see dynamicConfig).
	if on, _ := dc[dynamicconfig.HistoryCacheSizeBasedLimit.Key()].(bool); on {
		t.Error("history cache bounded by bytes")
	}
}

// The settings reach the running server: the idle replication workers are
// not started (640 goroutines by default).
func TestNoIdleReplicationWorkers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	start(t, ctx, Config{DataDir: filepath.Join(t.TempDir(), "data"), FrontendAddr: "127.0.0.1:0", Logger: testLogger()})
	buf := make([]byte, 64<<20)
	buf = buf[:runtime.Stack(buf, true)]
	workers := 0
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("tasks.(*SequentialScheduler[...]).pollTaskQueue")) {
			workers++
		}
	}
	t.Logf("%d replication scheduler workers of %d goroutines", workers, runtime.NumGoroutine())
	if workers == 0 || workers > 8 {
		t.Errorf("%d replication scheduler workers, want 1 to 8 (two schedulers, one each)", workers)
	}
}

// Every history queue forgets its completed tasks each second, not each
// 30 s: each new range of tasks read walks all it keeps (12% of the CPU
// under load at 30 s, docs/devserver-tuning.md).
func TestHistoryQueuesCheckpointOften(t *testing.T) {
	dc := dynamicConfig(defaultTuning())
	for _, s := range []dynamicconfig.GlobalDurationSetting{
		dynamicconfig.TransferProcessorUpdateAckInterval,
		dynamicconfig.TimerProcessorUpdateAckInterval,
		dynamicconfig.VisibilityProcessorUpdateAckInterval,
		dynamicconfig.OutboundProcessorUpdateAckInterval,
	} {
		if got := dc[s.Key()]; got != time.Second {
			t.Errorf("%s = %v, want 1s", s.Key(), got)
		}
	}
}

// Both SQLite files copy their WAL back every 10,000 pages, not SQLite's
// 1,000 (docs/devserver-tuning.md).
func TestSQLiteCheckpointsSeldom(t *testing.T) {
	c := sqliteConfig(filepath.Join(t.TempDir(), "x.db"), defaultTuning())
	if got := c.ConnectAttributes["wal_autocheckpoint"]; got != "10000" {
		t.Fatalf("wal_autocheckpoint = %q, want 10000", got)
	}
}
