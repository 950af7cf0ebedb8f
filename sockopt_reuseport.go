//go:build unix && !illumos && !solaris

package zyre

import "golang.org/x/sys/unix"

// packetOpts are the socket options set on beacon sockets: reuse of the
// address and port by several sockets, and broadcast.
var packetOpts = []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT, unix.SO_BROADCAST}
