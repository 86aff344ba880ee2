//go:build !linux

package devstack

import "syscall"

// childAttr makes each child lead its own process group, so that a stop
// reaches its children too. Only Linux can also stop them when dev dies.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
