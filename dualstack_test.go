package zyre_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gozyre/zyre"
	"github.com/gozyre/zyre/simnet"
)

// dualHost is a dual-stack machine on simnet, which gives each host one
// address: an IPv4 host and an IPv6 host, chosen by the address family of
// each call.
type dualHost struct{ v4, v6 *simnet.Host }

func (d dualHost) pick(a netip.Addr) *simnet.Host {
	if a.Unmap().Is4() {
		return d.v4
	}
	return d.v6
}

func (d dualHost) ListenPacket(ctx context.Context, laddr netip.AddrPort) (net.PacketConn, error) {
	return d.pick(laddr.Addr()).ListenPacket(ctx, laddr)
}

func (d dualHost) Listen(ctx context.Context, laddr netip.AddrPort) (net.Listener, error) {
	return d.pick(laddr.Addr()).Listen(ctx, laddr)
}

func (d dualHost) Dial(ctx context.Context, raddr netip.AddrPort) (net.Conn, error) {
	return d.pick(raddr.Addr()).Dial(ctx, raddr)
}

// Dual-stack nodes find IPv4-only, IPv6-only and dual-stack peers alike,
// each dual-stack pair is one peer in one session however many beacons
// of both families it hears, and every node reaches the others in the
// family they share. d1 tells peers its IPv4 endpoint, d2 (IPv6 set too)
// its IPv6 one; an IPv6-only peer is told d1's IPv6 endpoint all the same,
// and an IPv4-only one d2's IPv4 endpoint.
func TestSimDualStack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := simnet.New(16)
		t.Cleanup(func() { nw.Close() })
		v6 := func(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("fd00::%d", i)) }
		dual := func(i int) zyre.Config {
			return zyre.Config{Network: dualHost{nw.Host(v4addr(i)), nw.Host(v6(i))}, Interface: v4addr(i).String() + "," + v6(i).String(), DualStack: true}
		}
		cfgs := []zyre.Config{
			dual(1),
			dual(2),
			{Network: nw.Host(v4addr(3)), Interface: v4addr(3).String()},
			{Network: nw.Host(v6(4)), Interface: v6(4).String(), IPv6: true},
		}
		cfgs[1].IPv6 = true
		names := []string{"d1", "d2", "v4", "v6"}
		var nodes []*zyre.Node
		var recs []*recorder
		for i, c := range cfgs {
			c.Name, c.Groups = names[i], []string{"G"}
			n, r := startNode(t, &c)
			nodes, recs = append(nodes, n), append(recs, r)
		}
		if got, want := nodes[0].Endpoint(), "tcp://10.0.0.1:"; !strings.HasPrefix(got, want) {
			t.Fatalf("d1 endpoint %s, want %s...", got, want)
		}
		if got, want := nodes[1].Endpoint(), "tcp://[fd00::2]:"; !strings.HasPrefix(got, want) {
			t.Fatalf("d2 endpoint %s, want %s...", got, want)
		}
		// Who sees whom: all but the IPv4-only and IPv6-only pair.
		sees := func(i, j int) bool { return i != j && !(i >= 2 && j >= 2) }
		for i, r := range recs {
			var want []zyre.PeerID
			for j, n := range nodes {
				if sees(i, j) {
					want = append(want, n.ID())
				}
			}
			r.WaitFor(t, time.Minute, names[i]+" JOINs", func(evs []zyre.Event) bool {
				return !slices.ContainsFunc(want, func(id zyre.PeerID) bool { return count(evs, isJoin(id, "G")) == 0 })
			})
		}
		settle(20 * time.Second) // beacons of both families, gossip-free
		for i, n := range nodes {
			if err := n.Shout(context.Background(), "G", []byte("from "+names[i])); err != nil {
				t.Fatal(err)
			}
		}
		settle(2 * time.Second)
		for i, r := range recs {
			for j, n := range nodes {
				if i == j {
					continue
				}
				want := 0
				if sees(i, j) {
					want = 1
				}
				if got := r.Count(isEnter(n.ID())); got != want {
					t.Errorf("%s: %d ENTER of %s, want %d", names[i], got, names[j], want)
				}
				if got := r.Count(isExit(n.ID())); got != 0 {
					t.Errorf("%s: %d EXIT of %s\n%s", names[i], got, names[j], describe(r.Events()))
				}
				if got := r.Count(isShout("G", "from "+names[j])); got != want {
					t.Errorf("%s: %d shouts from %s, want %d", names[i], got, names[j], want)
				}
			}
		}
		// The endpoint each single-stack node knows a dual-stack one at
		// is of its own family.
		for i, fam := range map[int]string{2: "tcp://10.", 3: "tcp://[fd00::"} {
			for j := range 2 {
				p, err := nodes[i].Peer(context.Background(), nodes[j].ID())
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(p.Endpoint, fam) {
					t.Errorf("%s knows %s at %s, want %s...", names[i], names[j], p.Endpoint, fam)
				}
			}
		}
		for _, n := range nodes {
			if st := n.Stats(); st.ConnectionsLost != 0 || st.SequenceGaps != 0 || st.PeersNeverReady != 0 {
				t.Errorf("%s stats %+v", n.Name(), st)
			}
		}
	})
}

// DualStack's misconfigurations are caught by New (ConfigError) or Start
// (ErrNoInterface), before any socket is opened.
func TestDualStackConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		field string
		cfg   zyre.Config
	}{
		{"Endpoint", zyre.Config{DualStack: true, Endpoint: "tcp://127.0.0.1:0"}},
		{"BeaconGroups", zyre.Config{IPv6: true, BeaconGroups: []netip.Addr{netip.MustParseAddr("225.25.25.25")}}},
	} {
		_, err := zyre.New(&tc.cfg)
		var ce *zyre.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("New(%+v) = %v, want a ConfigError for %s", tc.cfg, err, tc.field)
		}
	}
	// With a custom Network, Interface must hold both addresses.
	nw := simnet.New(1)
	defer nw.Close()
	for _, spec := range []string{"10.0.0.1", "10.0.0.1,10.0.0.2", "fd00::1,10.0.0.1", "10.0.0.1,", "10.0.0.1,::ffff:10.0.0.2"} {
		n, err := zyre.New(&zyre.Config{Network: nw.Host(v4addr(1)), Interface: spec, DualStack: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(t.Context()); !errors.Is(err, zyre.ErrNoInterface) {
			t.Errorf("Interface %q: Start = %v, want ErrNoInterface", spec, err)
		}
		n.Close()
	}
}

func v4addr(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }
