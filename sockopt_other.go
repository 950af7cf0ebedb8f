//go:build !unix && !windows

package zyre

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// packetSockopts is a no-op where the platform has no socket options.
func packetSockopts(network, address string, c syscall.RawConn) error { return nil }

// joinMulticast is not supported here: IPv6 beacons need a unix system.
func joinMulticast(pc net.PacketConn, ifc iface) error {
	return errors.New("IPv6 multicast join not supported on this platform")
}

// joinGroup4 is not supported here.
func joinGroup4(recv, send net.PacketConn, ifAddr, group netip.Addr) error {
	return errors.New("IPv4 multicast beacon groups not supported on this platform")
}
