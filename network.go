package zyre

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// Network is what a Node needs from the network: UDP-like datagrams for
// beacons and TCP-like streams for the ZMTP mailbox and peer connections.
// It uses standard library types only, so implementations (such as the
// in-memory simnet) need not import this package. Nil in Config means the
// operating system's network.
type Network interface {
	// ListenPacket opens a broadcast-capable datagram socket at laddr.
	// Several sockets may share one port (SO_REUSEPORT semantics).
	ListenPacket(ctx context.Context, laddr netip.AddrPort) (net.PacketConn, error)
	// Listen opens a stream listener at laddr (port 0: any free port).
	Listen(ctx context.Context, laddr netip.AddrPort) (net.Listener, error)
	// Dial opens a stream to raddr.
	Dial(ctx context.Context, raddr netip.AddrPort) (net.Conn, error)
}

// osNetwork is the operating system's network.
type osNetwork struct{}

func (osNetwork) ListenPacket(ctx context.Context, laddr netip.AddrPort) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: packetSockopts}
	network := "udp4"
	if laddr.Addr().Is6() && !laddr.Addr().Is4In6() {
		network = "udp6"
	}
	return lc.ListenPacket(ctx, network, laddr.String())
}

func (osNetwork) Listen(ctx context.Context, laddr netip.AddrPort) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp", laddr.String())
}

func (osNetwork) Dial(ctx context.Context, raddr netip.AddrPort) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", raddr.String())
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return c, nil
}

// iface is a resolved interface: where beacons go and where the mailbox binds.
type iface struct {
	Name      string
	Addr      netip.Addr // our address: beacons leave from it, the mailbox binds to it
	Broadcast netip.Addr // beacon destination (IPv4 broadcast or IPv6 multicast)
}

// resolveInterface turns Config.Interface into addresses. With a custom
// Network the spec must be an address, and beacons go to the limited
// broadcast address (or ff02::1).
func resolveInterface(spec string, ipv6, custom bool) (iface, error) {
	if custom || spec != "" {
		if a, err := netip.ParseAddr(spec); err == nil && custom {
			a = a.Unmap()
			if a.Is6() {
				return iface{Name: spec, Addr: a, Broadcast: netip.MustParseAddr("ff02::1")}, nil
			}
			return iface{Name: spec, Addr: a, Broadcast: netip.AddrFrom4([4]byte{255, 255, 255, 255})}, nil
		} else if custom {
			return iface{}, fmt.Errorf("%w: %q: with a custom Network, Interface must be an IP address", ErrNoInterface, spec)
		}
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return iface{}, err
	}
	specAddr, specIsAddr := netip.Addr{}, false
	if a, err := netip.ParseAddr(spec); err == nil {
		specAddr, specIsAddr = a.Unmap(), true
	}
	var linkLocal iface // IPv6: used when the interface has no wider address
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		if spec == "" && (ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagBroadcast == 0) {
			continue
		}
		if spec != "" && !specIsAddr && ifc.Name != spec {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			pfx, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			pfx = pfx.Unmap()
			if specIsAddr && pfx != specAddr {
				continue
			}
			if ipv6 {
				if !pfx.Is6() {
					continue
				}
				ifv6 := iface{Name: ifc.Name, Addr: pfx, Broadcast: netip.MustParseAddr("ff02::1").WithZone(ifc.Name)}
				if pfx.IsLinkLocalUnicast() {
					// Only usable with the interface as its zone, and
					// only on this link: keep looking for a global or
					// unique local address.
					if !linkLocal.Addr.IsValid() {
						ifv6.Addr = pfx.WithZone(ifc.Name)
						linkLocal = ifv6
					}
					continue
				}
				return ifv6, nil
			}
			if !pfx.Is4() {
				continue
			}
			ones, _ := ipn.Mask.Size()
			return iface{Name: ifc.Name, Addr: pfx, Broadcast: directedBroadcast(pfx, ones)}, nil
		}
	}
	if linkLocal.Addr.IsValid() {
		return linkLocal, nil
	}
	if spec == "" {
		return iface{}, fmt.Errorf("%w: no up, broadcast-capable interface with an address", ErrNoInterface)
	}
	return iface{}, fmt.Errorf("%w: %q", ErrNoInterface, spec)
}

// resolveInterfaces resolves the interfaces the node beacons on: one, or
// with dualStack its IPv4 and IPv6 sides, the one peers are told first
// (IPv4 unless ipv6). With a custom Network and dualStack, spec is
// "IPV4,IPV6".
func resolveInterfaces(spec string, ipv6, dualStack, custom bool) ([]iface, error) {
	if !dualStack {
		ifc, err := resolveInterface(spec, ipv6, custom)
		return []iface{ifc}, err
	}
	var v4, v6 iface
	var err error
	if custom {
		s4, s6, ok := strings.Cut(spec, ",")
		a4, err4 := netip.ParseAddr(s4)
		a6, err6 := netip.ParseAddr(s6)
		if !ok || err4 != nil || err6 != nil || !a4.Unmap().Is4() || !a6.Is6() || a6.Is4In6() {
			return nil, fmt.Errorf("%w: %q: with a custom Network and DualStack, Interface must be an IPv4 and an IPv6 address, \"10.0.0.1,fd00::1\"", ErrNoInterface, spec)
		}
		v4, _ = resolveInterface(s4, false, true)
		v6, _ = resolveInterface(s6, true, true)
	} else if a, perr := netip.ParseAddr(spec); perr == nil && a.Is6() && !a.Is4In6() {
		// An IPv6 address names the interface: its IPv4 side by name.
		if v6, err = resolveInterface(spec, true, false); err == nil {
			v4, err = resolveInterface(v6.Name, false, false)
		}
	} else if v4, err = resolveInterface(spec, false, false); err == nil {
		v6, err = resolveInterface(v4.Name, true, false)
	}
	if err != nil {
		return nil, fmt.Errorf("DualStack: %w", err)
	}
	if ipv6 {
		return []iface{v6, v4}, nil
	}
	return []iface{v4, v6}, nil
}

// dualListener is the mailbox's listener on two addresses (a dual-stack
// node's IPv4 and IPv6 sides, one port): Accept takes from either. It owns
// one accepting goroutine per listener; Close stops them.
type dualListener struct {
	lns  [2]net.Listener
	got  chan accepted
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

type accepted struct {
	c   net.Conn
	err error
}

func newDualListener(a, b net.Listener) *dualListener {
	d := &dualListener{lns: [2]net.Listener{a, b}, got: make(chan accepted), done: make(chan struct{})}
	for _, ln := range d.lns {
		d.wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil && errors.Is(err, net.ErrClosed) {
					return
				}
				// Errors go to the caller (the Router backs off on
				// them); the unbuffered hand-off paces retries.
				select {
				case d.got <- accepted{c, err}:
				case <-d.done:
					if c != nil {
						c.Close()
					}
					return
				}
			}
		})
	}
	return d
}

// Accept returns the next connection to either address.
func (d *dualListener) Accept() (net.Conn, error) {
	select {
	case a := <-d.got:
		return a.c, a.err
	case <-d.done:
		return nil, net.ErrClosed
	}
}

// Close closes both listeners and waits for the accepting goroutines.
func (d *dualListener) Close() error {
	var err error
	d.once.Do(func() {
		close(d.done)
		err = errors.Join(d.lns[0].Close(), d.lns[1].Close())
		d.wg.Wait()
	})
	return err
}

// Addr is the first listener's address (the endpoint peers are told).
func (d *dualListener) Addr() net.Addr { return d.lns[0].Addr() }

func directedBroadcast(a netip.Addr, ones int) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	if ones < 32 {
		v |= (1 << (32 - ones)) - 1
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// parseEndpoint parses "tcp://ADDR:PORT" (ADDR an IP literal, IPv6 in brackets).
func parseEndpoint(ep string) (netip.AddrPort, error) {
	rest, ok := strings.CutPrefix(ep, "tcp://")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("endpoint %q: want tcp://ADDR:PORT", ep)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("endpoint %q: %w", ep, err)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("endpoint %q: address must be an IP literal", ep)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("endpoint %q: bad port", ep)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(p)), nil
}

func formatEndpoint(ap netip.AddrPort) string { return "tcp://" + ap.String() }
