package drill

import "syscall"

// childAttr makes a child die with the drill: a drill killed by its operator must not
// leave NATS, Temporal and the workers running.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
