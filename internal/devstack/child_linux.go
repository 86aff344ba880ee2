package devstack

import "syscall"

// childAttr makes each child lead its own process group, so that a stop
// reaches its children too, and sends it SIGTERM if dev dies (kill -9)
// rather than leave it running against a broker that is gone, holding the
// ports the next dev needs.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
