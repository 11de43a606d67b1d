//go:build !linux

package drill

import "syscall"

// childAttr: without Linux's parent-death signal, Topology.Stop is what stops the
// children.
func childAttr() *syscall.SysProcAttr { return nil }
