package main

import "testing"

// TestDatabaseURLGetsConnectTimeout: without a bound of its own, a new
// connection to an unreachable database waits for the kernel's handshake
// timeout (minutes) where a request should get its 503.
func TestDatabaseURLGetsConnectTimeout(t *testing.T) {
	for _, c := range []struct{ url, pgEnv, want string }{
		{"postgres://h:5432/db?sslmode=disable", "", "postgres://h:5432/db?connect_timeout=5&sslmode=disable"},
		{"postgres://u:p%40ss@h/db?connect_timeout=30", "", "postgres://u:p%40ss@h/db?connect_timeout=30"},
		{"postgres://h/db", "12", "postgres://h/db"},
	} {
		env := map[string]string{"HERALD_DATABASE_URL": c.url, "HERALD_TEMPORAL_ADDRESS": "127.0.0.1:7233", "PGCONNECT_TIMEOUT": c.pgEnv}
		cfg, err := loadConfig(func(k string) string { return env[k] }, modeWorker)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.DatabaseURL != c.want {
			t.Errorf("%s (PGCONNECT_TIMEOUT=%q) became %s, want %s", c.url, c.pgEnv, cfg.DatabaseURL, c.want)
		}
	}
}
