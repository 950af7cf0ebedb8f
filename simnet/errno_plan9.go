//go:build plan9

package simnet

import "errors"

// Plan 9 has no errno values for these; plain errors stand in.
var (
	errRefused      = errors.New("connection refused")
	errReset        = errors.New("connection reset by peer")
	errPipe         = errors.New("broken pipe")
	errAddrInUse    = errors.New("address already in use")
	errAddrNotAvail = errors.New("cannot assign requested address")
	errHostUnreach  = errors.New("no route to host")
	errTimedOut     = errors.New("connection timed out")
	errInvalid      = errors.New("invalid argument")
	errMsgSize      = errors.New("message too long")
)
