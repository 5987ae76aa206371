package main

import (
	"os"
	"testing"
)

// sharedCleanups run at the end of the test binary, after the shared
// instance stopped.
var sharedCleanups []func()

// tempDirOutsideTest makes a directory removed at the end of the binary,
// not of the test that asked for it.
func tempDirOutsideTest(t testing.TB) string {
	dir, err := os.MkdirTemp("", "herald-shared-*")
	if err != nil {
		t.Fatal(err)
	}
	sharedCleanups = append(sharedCleanups, func() { os.RemoveAll(dir) })
	return dir
}
