//go:build !linux

package proc

import (
	"syscall"
	"time"
)

func procAttr() *syscall.SysProcAttr { return nil }

func procCPU(int) time.Duration { return 0 }
