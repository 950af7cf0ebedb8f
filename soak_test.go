package zyre

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gozyre/zyre/simnet"
)

// TestSimSoakChurn keeps one node up while 300 short-lived peers come and
// go around it over virtual hours, on reused addresses, each joining a
// group of its own, exchanging whispers, then leaving politely, crashing,
// or vanishing behind a partition. Afterwards the long-lived node must
// hold nothing of them: no peers, groups, links, closing outboxes, mailbox
// connections, remembered keys or goroutines. A node must be safe to leave
// running for months.
func TestSimSoakChurn(t *testing.T) {
	for _, mode := range []struct {
		name          string
		curve, gossip bool
	}{{"plain", false, false}, {"curve", true, false}, {"gossip", false, true}} {
		t.Run(mode.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { soak(t, mode.curve, mode.gossip) })
		})
	}
}

// soak runs the churn; with gossip, the long-lived node is the gossip
// server (GossipBind) and the others find it, and each other, only
// through it.
func soak(t *testing.T, curve, gossip bool) {
	nw := simnet.New(11)
	defer nw.Close()
	nw.StallTimeout = 2 * time.Minute // as TCP: the expiry timer acts first
	// A little latency orders what would otherwise happen in one virtual
	// instant: with gossip, the long-lived node then learns a newcomer's
	// tuple before the newcomer's HELLO (counted below) rather than racing it.
	nw.SetDefaultLink(simnet.Link{Latency: time.Millisecond})
	rng := rand.New(rand.NewPCG(11, 12))
	home := netip.MustParseAddr("10.0.0.1")
	hub := "tcp://10.0.0.1:5670"
	newNode := func(addr netip.Addr) *Node {
		cfg := &Config{Network: nw.Host(addr), Interface: addr.String()}
		if gossip {
			cfg.DisableBeacon = true
			if addr == home {
				cfg.GossipBind = hub
			} else {
				cfg.GossipConnect = []string{hub}
			}
		}
		if curve {
			k, err := GenerateKeyPair()
			if err != nil {
				t.Fatal(err)
			}
			cfg.Curve = &k
		}
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		go func() { // the application: drain events
			for range n.Events(context.Background()) {
			}
		}()
		return n
	}
	settle := func(d time.Duration) {
		time.Sleep(d)
		synctest.Wait()
	}
	base := bubbleGoroutines()
	long := newNode(home)
	defer long.Close()
	settle(2 * time.Second)
	baseline := bubbleGoroutines()
	t.Logf("goroutines in the bubble: %d before the node, %d with it", base, baseline)

	ctx := context.Background()
	rounds := 300
	if curve {
		rounds = 100 // the handshakes cost more under -race
	}
	for i := range rounds {
		addr := netip.AddrFrom4([4]byte{10, 0, 1, byte(1 + rng.IntN(20))})
		p := newNode(addr)
		settle(2 * time.Second)
		if err := p.Join(ctx, fmt.Sprint("g", i)); err != nil {
			t.Fatal(err)
		}
		_ = p.Whisper(ctx, long.ID(), []byte("hello"))
		_ = long.Whisper(ctx, p.ID(), []byte("hello"))
		settle(time.Second)
		switch rng.IntN(3) {
		case 0:
			if err := p.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
		case 1:
			p.Close() // crash: its connections close
		case 2:
			nw.Partition([]netip.Addr{addr}) // vanish: nothing closes
			settle(40 * time.Second)         // past the expiry
			p.Close()
			nw.Heal()
		}
	}
	settle(time.Minute) // past every expiry

	var links, closing, keys, exited, conns int
	if err := long.do(ctx, func(a *actor) error {
		links, closing, keys, exited = len(a.links), len(a.closing), a.keys.len(), len(a.exited)
		conns = a.mbox.r.Stats().Active
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	peers, _ := long.Peers(ctx)
	groups, _ := long.PeerGroups(ctx)
	// With gossip, the node remembers peers that exited for a while, so
	// that stale copies of their tuples do not send it dialling the dead;
	// that memory is bounded (1,024 entries once older than ten expiry
	// periods).
	if len(peers) != 0 || len(groups) != 0 || links != 0 || closing != 0 || keys != 0 || exited > 1024 || conns != 0 {
		t.Errorf("after %d peers came and went: %d peers, %d groups, %d links, %d closing outboxes, %d keys, %d exited, %d mailbox connections; want none",
			rounds, len(peers), len(groups), links, closing, keys, exited, conns)
	}
	if n := bubbleGoroutines(); n > baseline {
		t.Errorf("%d goroutines, %d before the churn (%d before the node)", n, baseline, base)
	}
	st := long.Stats()
	if st.PeersExpired == 0 || st.ConnectionsLost == 0 {
		t.Errorf("PeersExpired = %d, ConnectionsLost = %d: the churn missed a way of leaving", st.PeersExpired, st.ConnectionsLost)
	}
	if gossip && (st.GossipTuples != 1 || st.GossipClients != 0 || st.GossipDiscovered < uint64(rounds)) {
		t.Errorf("gossip: %d tuples, %d clients, %d discovered; want 1 (its own), 0, at least %d; stats %+v",
			st.GossipTuples, st.GossipClients, st.GossipDiscovered, rounds, st)
	}
}

// bubbleGoroutines counts the goroutines of the synctest bubble the caller
// is in (tests here do not run in parallel, so there is one).
// runtime.NumGoroutine would count the whole process, where goroutines of
// the test framework come and go.
func bubbleGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, line := range strings.Split(string(buf), "\n") {
		if strings.HasPrefix(line, "goroutine ") && strings.Contains(line, "synctest bubble") {
			count++
		}
	}
	return count
}
