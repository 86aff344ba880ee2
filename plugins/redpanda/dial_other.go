//go:build !linux

package redpanda

import (
	"errors"
	"syscall"
	"time"
)

// userTimeoutControl: TCP_USER_TIMEOUT is a Linux socket option.
func userTimeoutControl(time.Duration) (func(network, address string, c syscall.RawConn) error, error) {
	return nil, errors.New("only supported on Linux")
}
