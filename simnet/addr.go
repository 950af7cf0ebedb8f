package simnet

import (
	"net"
	"net/netip"
)

// isBroadcast reports whether a datagram to a goes to every host: the
// limited broadcast address, an IPv4 address ending in .255 (a directed
// broadcast; simnet has no subnets), or a multicast address.
func isBroadcast(a netip.Addr) bool {
	if a.IsMulticast() {
		return true
	}
	return a.Is4() && a.As4()[3] == 255
}

func udpAddr(ap netip.AddrPort) *net.UDPAddr { return net.UDPAddrFromAddrPort(ap) }
func tcpAddr(ap netip.AddrPort) *net.TCPAddr { return net.TCPAddrFromAddrPort(ap) }

// addrPort converts a destination address given to WriteTo.
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		if a == nil {
			return ap, false
		}
		ap = a.AddrPort()
	case nil:
		return ap, false
	default:
		var err error
		if ap, err = netip.ParseAddrPort(a.String()); err != nil {
			return ap, false
		}
	}
	ap = netip.AddrPortFrom(normAddr(ap.Addr()), ap.Port())
	return ap, ap.Addr().IsValid() && !ap.Addr().IsUnspecified() && ap.Port() != 0
}
