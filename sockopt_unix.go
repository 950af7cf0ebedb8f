//go:build unix

package zyre

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// packetSockopts lets many nodes on one host share the beacon port and
// send broadcasts, as czmq's zsys_udp_new does.
func packetSockopts(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		for _, opt := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT, unix.SO_BROADCAST} {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, 1); e != nil && serr == nil {
				serr = e
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// joinMulticast joins the IPv6 beacon group on the interface, for the
// operating system's sockets; other networks (simnet) deliver multicast
// without joining.
func joinMulticast(pc net.PacketConn, ifc iface) error {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return nil
	}
	ni, err := net.InterfaceByName(ifc.Name)
	if err != nil {
		return err
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	mreq := &unix.IPv6Mreq{Multiaddr: ifc.Broadcast.As16(), Interface: uint32(ni.Index)}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptIPv6Mreq(int(fd), unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mreq)
	}); err != nil {
		return err
	}
	return serr
}
