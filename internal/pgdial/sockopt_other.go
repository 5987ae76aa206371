//go:build !linux

package pgdial

import "time"

// Only Linux has TCP_USER_TIMEOUT; elsewhere the keepalives alone notice
// an idle link that died.
func setUserTimeout(uintptr, time.Duration) error { return nil }
