//go:build windows

package zyre

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// packetSockopts sets address reuse and broadcast where the platform has them.
func packetSockopts(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		h := syscall.Handle(fd)
		if e := syscall.SetsockoptInt(h, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); e != nil {
			serr = e
		}
		if e := syscall.SetsockoptInt(h, syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1); e != nil && serr == nil {
			serr = e
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// joinMulticast is not supported here: IPv6 beacons need a unix system.
func joinMulticast(pc net.PacketConn, ifc iface) error {
	return errors.New("IPv6 multicast join not supported on this platform")
}

// joinGroup4 is not supported here yet.
func joinGroup4(recv, send net.PacketConn, ifAddr, group netip.Addr) error {
	return errors.New("IPv4 multicast beacon groups not supported on this platform")
}
