//go:build illumos || solaris

package zyre

import "golang.org/x/sys/unix"

// packetOpts are the socket options set on beacon sockets. illumos and
// Solaris have no SO_REUSEPORT in golang.org/x/sys; there SO_REUSEADDR
// alone lets several datagram sockets bind the same port.
var packetOpts = []int{unix.SO_REUSEADDR, unix.SO_BROADCAST}
