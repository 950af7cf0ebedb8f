//go:build !plan9

package simnet

import "syscall"

// The errno values simnet's errors wrap, so that errors.Is(err,
// syscall.ECONNREFUSED) and friends work as they do on a real network.
var (
	errRefused      error = syscall.ECONNREFUSED
	errReset        error = syscall.ECONNRESET
	errPipe         error = syscall.EPIPE
	errAddrInUse    error = syscall.EADDRINUSE
	errAddrNotAvail error = syscall.EADDRNOTAVAIL
	errHostUnreach  error = syscall.EHOSTUNREACH
	errTimedOut     error = syscall.ETIMEDOUT
	errInvalid      error = syscall.EINVAL
	errMsgSize      error = syscall.EMSGSIZE
)
