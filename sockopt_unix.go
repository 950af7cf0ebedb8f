//go:build unix

package zyre

import (
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// packetSockopts lets many nodes on one host share the beacon port and
// send broadcasts, as czmq's zsys_udp_new does.
func packetSockopts(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		for _, opt := range packetOpts {
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

// joinGroup4 joins an IPv4 multicast group on the interface with address
// ifAddr (receive socket) and sends the group's datagrams out of that
// interface (send socket), for the operating system's sockets; other
// networks need no joining.
func joinGroup4(recv, send net.PacketConn, ifAddr, group netip.Addr) error {
	rc, ok := recv.(*net.UDPConn)
	sc, ok2 := send.(*net.UDPConn)
	if !ok || !ok2 {
		return nil
	}
	mreq := &unix.IPMreq{Multiaddr: group.As4(), Interface: ifAddr.As4()}
	if err := control(rc, func(fd int) error {
		return unix.SetsockoptIPMreq(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq)
	}); err != nil {
		return err
	}
	return control(sc, func(fd int) error {
		if err := unix.SetsockoptInet4Addr(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, ifAddr.As4()); err != nil {
			return err
		}
		return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 1)
	})
}

func control(c *net.UDPConn, f func(fd int) error) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
