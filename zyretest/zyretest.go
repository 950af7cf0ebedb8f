// Package zyretest helps test programs built on zyre, in the spirit of
// net/http/httptest: start a cluster of nodes on the in-memory network
// (simnet) or on loopback, wait until they all see each other, record
// their events and wait for the ones a test expects.
//
// On simnet, run the test inside testing/synctest's synctest.Test: the
// nodes' timers then run on the bubble's fake clock (C Zyre's 30-second
// expiry takes microseconds), and the bubble's exit check proves no
// goroutine is left behind.
//
//	synctest.Test(t, func(t *testing.T) {
//		c := zyretest.NewCluster(t, 3, nil)
//		c.WaitForPeers(t)
//		c.Nodes[0].Shout(t.Context(), "G", []byte("hi"))
//		...
//	})
package zyretest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gozyre/zyre"
	"github.com/gozyre/zyre/simnet"
)

// Options configures a Cluster. The zero value (or nil) gives nodes on a
// fresh simnet with C Zyre's default timers.
type Options struct {
	// Loopback runs the nodes on the operating system's loopback
	// interface (127.0.0.1, beacons to 127.255.255.255) with a random
	// beacon port, instead of simnet.
	Loopback bool
	// Net is the simnet to use; nil makes one (seeded with Seed).
	Net *simnet.Net
	// Seed seeds the simnet that NewCluster makes.
	Seed uint64
	// Config, if set, adjusts each node's Config before New.
	Config func(i int, c *zyre.Config)
}

// Cluster is a set of started nodes and their event recorders.
type Cluster struct {
	Nodes     []*zyre.Node
	Recorders []*Recorder
	// Net is the simnet the nodes run on (nil on loopback).
	Net *simnet.Net
	// Addrs are the nodes' host addresses (simnet) or all 127.0.0.1.
	Addrs []netip.Addr

	ownNet bool
	once   sync.Once
}

// HostAddr is the simnet address NewCluster gives node i: 10.0.x.y.
func HostAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(1 + i%250)})
}

// NewCluster starts n nodes named "node0"... and registers Close with
// t.Cleanup. It fails the test if a node cannot start.
func NewCluster(t testing.TB, n int, opts *Options) *Cluster {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	c := &Cluster{Net: opts.Net}
	port := 0
	if opts.Loopback {
		port = 20000 + rand.IntN(20000)
	} else if c.Net == nil {
		c.Net, c.ownNet = simnet.New(opts.Seed), true
	}
	t.Cleanup(c.Close)
	for i := range n {
		cfg := &zyre.Config{Name: fmt.Sprintf("node%d", i)}
		addr := netip.MustParseAddr("127.0.0.1")
		if opts.Loopback {
			cfg.Interface = "127.0.0.1"
			cfg.BeaconPort = port
			cfg.BeaconInterval = 100 * time.Millisecond
		} else {
			addr = HostAddr(i)
			cfg.Network = c.Net.Host(addr)
			cfg.Interface = addr.String()
		}
		if opts.Config != nil {
			opts.Config(i, cfg)
		}
		node, err := zyre.New(cfg)
		if err != nil {
			t.Fatalf("zyretest: node %d: %v", i, err)
		}
		if err := node.Start(context.Background()); err != nil {
			t.Fatalf("zyretest: node %d: %v", i, err)
		}
		c.Nodes = append(c.Nodes, node)
		c.Recorders = append(c.Recorders, Record(node))
		c.Addrs = append(c.Addrs, addr)
	}
	return c
}

// Close closes every node (without goodbye), waits for their recorders,
// and closes the simnet if the cluster made it. It is idempotent.
func (c *Cluster) Close() {
	c.once.Do(func() {
		for i, n := range c.Nodes {
			n.Close()
			c.Recorders[i].Wait()
		}
		if c.ownNet {
			c.Net.Close()
		}
	})
}

// IDs returns the nodes' IDs, except node except (-1 for all).
func (c *Cluster) IDs(except int) []zyre.PeerID {
	var out []zyre.PeerID
	for i, n := range c.Nodes {
		if i != except {
			out = append(out, n.ID())
		}
	}
	return out
}

// WaitForPeers waits until every node currently sees every other node
// (as shown by its ENTER and EXIT events), or fails the test after a
// minute (of fake time under synctest).
func (c *Cluster) WaitForPeers(t testing.TB) {
	t.Helper()
	for i, r := range c.Recorders {
		want := c.IDs(i)
		r.WaitFor(t, time.Minute, fmt.Sprintf("node %d to see all %d peers", i, len(want)), func([]zyre.Event) bool {
			live := r.livePeers()
			for _, id := range want {
				if !live[id] {
					return false
				}
			}
			return true
		})
	}
}

// Recorder drains a node's events in the background and lets a test wait
// for a condition over everything seen so far.
type Recorder struct {
	node *zyre.Node
	mu   sync.Mutex
	cond *sync.Cond
	evs  []zyre.Event
	live map[zyre.PeerID]bool
	done bool
	wg   sync.WaitGroup
}

// Record starts recording n's events; recording ends with the StopEvent.
// The Recorder is then the node's only reader: do not call Recv too.
func Record(n *zyre.Node) *Recorder {
	r := &Recorder{node: n, live: map[zyre.PeerID]bool{}}
	r.cond = sync.NewCond(&r.mu)
	r.wg.Go(func() {
		for ev := range n.Events(context.Background()) {
			r.mu.Lock()
			r.evs = append(r.evs, ev)
			switch e := ev.(type) {
			case zyre.EnterEvent:
				r.live[e.Peer] = true
			case zyre.ExitEvent:
				delete(r.live, e.Peer)
			}
			r.mu.Unlock()
			r.cond.Broadcast()
		}
		r.mu.Lock()
		r.done = true
		r.mu.Unlock()
		r.cond.Broadcast()
	})
	return r
}

// Wait waits until recording has ended (the node stopped).
func (r *Recorder) Wait() { r.wg.Wait() }

// Node returns the recorded node.
func (r *Recorder) Node() *zyre.Node { return r.node }

// Events returns a copy of the events seen so far.
func (r *Recorder) Events() []zyre.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

// Count returns how many events seen so far match.
func (r *Recorder) Count(match func(zyre.Event) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Count(r.evs, match)
}

func (r *Recorder) livePeers() map[zyre.PeerID]bool { return r.live } // called with r.mu held

// WaitFor waits until cond holds over the events seen so far, or fails
// the test after timeout (a bound for broken tests, not a timing
// assertion) or when the node stops first.
func (r *Recorder) WaitFor(t testing.TB, timeout time.Duration, what string, cond func([]zyre.Event) bool) {
	t.Helper()
	expired := false
	stop := time.AfterFunc(timeout, func() {
		r.mu.Lock()
		expired = true
		r.mu.Unlock()
		r.cond.Broadcast()
	})
	defer stop.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for !cond(r.evs) {
		if r.done || expired {
			t.Fatalf("zyretest: %s: waited for %s; events:%s", r.node.Name(), what, Describe(r.evs))
		}
		r.cond.Wait()
	}
}

// WaitForEvent waits until an event matching match has been seen.
func (r *Recorder) WaitForEvent(t testing.TB, what string, match func(zyre.Event) bool) {
	t.Helper()
	r.WaitFor(t, time.Minute, what, func(evs []zyre.Event) bool { return Count(evs, match) > 0 })
}

// Describe renders events one per line, for failure messages.
func Describe(evs []zyre.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "\n  %s %+v", ev.Type(), ev)
	}
	return b.String()
}

// Count returns how many of evs match.
func Count(evs []zyre.Event, match func(zyre.Event) bool) int {
	n := 0
	for _, ev := range evs {
		if match(ev) {
			n++
		}
	}
	return n
}

// IsEnter matches the ENTER of peer id.
func IsEnter(id zyre.PeerID) func(zyre.Event) bool {
	return func(ev zyre.Event) bool { e, ok := ev.(zyre.EnterEvent); return ok && e.Peer == id }
}

// IsExit matches the EXIT of peer id.
func IsExit(id zyre.PeerID) func(zyre.Event) bool {
	return func(ev zyre.Event) bool { e, ok := ev.(zyre.ExitEvent); return ok && e.Peer == id }
}

// IsEvasive matches an EVASIVE of peer id.
func IsEvasive(id zyre.PeerID) func(zyre.Event) bool {
	return func(ev zyre.Event) bool { e, ok := ev.(zyre.EvasiveEvent); return ok && e.Peer == id }
}

// IsSilent matches a SILENT of peer id.
func IsSilent(id zyre.PeerID) func(zyre.Event) bool {
	return func(ev zyre.Event) bool { e, ok := ev.(zyre.SilentEvent); return ok && e.Peer == id }
}

// IsJoin matches peer id joining group.
func IsJoin(id zyre.PeerID, group string) func(zyre.Event) bool {
	return func(ev zyre.Event) bool { e, ok := ev.(zyre.JoinEvent); return ok && e.Peer == id && e.Group == group }
}

// IsLeave matches peer id leaving group.
func IsLeave(id zyre.PeerID, group string) func(zyre.Event) bool {
	return func(ev zyre.Event) bool { e, ok := ev.(zyre.LeaveEvent); return ok && e.Peer == id && e.Group == group }
}

// IsShout matches a SHOUT to group whose first frame is text.
func IsShout(group, text string) func(zyre.Event) bool {
	return func(ev zyre.Event) bool {
		e, ok := ev.(zyre.ShoutEvent)
		return ok && e.Group == group && len(e.Frames) > 0 && string(e.Frames[0]) == text
	}
}

// IsWhisper matches a WHISPER whose first frame is text.
func IsWhisper(text string) func(zyre.Event) bool {
	return func(ev zyre.Event) bool {
		e, ok := ev.(zyre.WhisperEvent)
		return ok && len(e.Frames) > 0 && string(e.Frames[0]) == text
	}
}

// Has turns an event matcher into a condition: at least one such event.
func Has(match func(zyre.Event) bool) func([]zyre.Event) bool {
	return func(evs []zyre.Event) bool { return Count(evs, match) > 0 }
}

// EnteredAll is a condition: ENTER seen for every id.
func EnteredAll(ids []zyre.PeerID) func([]zyre.Event) bool {
	return func(evs []zyre.Event) bool {
		for _, id := range ids {
			if Count(evs, IsEnter(id)) == 0 {
				return false
			}
		}
		return true
	}
}
