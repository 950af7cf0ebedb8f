package zyre_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gozyre/zyre"
	"github.com/gozyre/zyre/simnet"
	"github.com/gozyre/zyre/zyretest"
)

// BenchmarkGossipConverge measures how long N nodes on loopback, beacons
// off, take to all see each other (every node has N-1 ENTERs) through one
// GossipServer, from the first Start. Each iteration starts a fresh
// server and fresh nodes; the converge-ms metric excludes their shutdown.
func BenchmarkGossipConverge(b *testing.B) {
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				total += gossipConverge(b, n)
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "converge-ms")
		})
	}
}

func gossipConverge(b *testing.B, n int) time.Duration {
	srv, err := zyre.NewGossipServer(&zyre.GossipConfig{Bind: "tcp://127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	start := time.Now()
	nodes := make([]*zyre.Node, n)
	var wg sync.WaitGroup
	entered := make([]chan struct{}, n)
	for i := range n {
		cfg := &zyre.Config{
			Name:          fmt.Sprintf("n%d", i),
			Interface:     "127.0.0.1",
			DisableBeacon: true,
			GossipConnect: []string{srv.Endpoint()},
		}
		node, err := zyre.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := node.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		nodes[i] = node
		entered[i] = make(chan struct{})
		wg.Go(func() {
			seen := 0
			for ev := range node.Events(context.Background()) {
				if ev.Type() == zyre.EventEnter {
					if seen++; seen == n-1 {
						close(entered[i])
					}
				}
			}
		})
	}
	timeout := time.After(time.Minute)
	for i := range n {
		select {
		case <-entered[i]:
		case <-timeout:
			b.Fatalf("node %d did not see all %d others within a minute", i, n-1)
		}
	}
	d := time.Since(start)
	b.StopTimer()
	for _, node := range nodes {
		node.Close()
	}
	wg.Wait()
	b.StartTimer()
	return d
}

// TestGossipTrafficAtRest measures, on simnet under synctest (fake clock,
// 1 ms links), how long N nodes take to converge through one server, the
// nodes started one after the other at once, and then the
// gossip traffic per node per minute once nothing changes: PINGs and
// PONGs every 500 ms of silence, the node's own republish every TTL/3
// (10 s with the default 30 s expiry) and every other node's republish
// relayed by the server. Run with -v to see the figures; the bounds only
// catch gross regressions.
func TestGossipTrafficAtRest(t *testing.T) {
	for _, n := range []int{10, 50} {
		t.Run(fmt.Sprintf("nodes=%d", n), func(t *testing.T) {
			if n > 10 && (testing.Short() || raceEnabled) {
				t.Skip("10 nodes only with -short or -race")
			}
			synctest.Test(t, func(t *testing.T) {
				net := simnet.New(1)
				defer net.Close()
				// 1 ms one way: the convergence time counts round trips.
				net.SetDefaultLink(simnet.Link{Latency: time.Millisecond})
				srv, err := zyre.NewGossipServer(&zyre.GossipConfig{Bind: "tcp://10.0.9.1:5670", Network: net.Host(netip.MustParseAddr("10.0.9.1"))})
				if err != nil {
					t.Fatal(err)
				}
				if err := srv.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				defer srv.Close()
				start := time.Now()
				c := zyretest.NewCluster(t, n, &zyretest.Options{Net: net, Config: func(i int, c *zyre.Config) {
					c.DisableBeacon = true
					c.GossipConnect = []string{srv.Endpoint()}
				}})
				defer c.Close()
				c.WaitForPeers(t)
				converged := time.Since(start)

				settle(20 * time.Second) // let start-up traffic pass
				before := make([]zyre.Stats, n)
				for i, node := range c.Nodes {
					before[i] = node.Stats()
				}
				srvBefore := srv.Stats()
				settle(time.Minute)
				var msgs, bytes uint64
				for i, node := range c.Nodes {
					s := node.Stats()
					msgs += s.GossipMessagesSent + s.GossipMessagesReceived - before[i].GossipMessagesSent - before[i].GossipMessagesReceived
					bytes += s.GossipBytesSent + s.GossipBytesReceived - before[i].GossipBytesSent - before[i].GossipBytesReceived
				}
				srvAfter := srv.Stats()
				perNodeMsgs := float64(msgs) / float64(n)
				perNodeBytes := float64(bytes) / float64(n)
				t.Logf("%d nodes: converged in %v (fake clock); at rest per node per minute: %.0f messages, %.0f bytes (sent+received, ZMTP framing included); server per minute: %d messages in, %d out",
					n, converged, perNodeMsgs, perNodeBytes,
					srvAfter.MessagesReceived-srvBefore.MessagesReceived, srvAfter.MessagesSent-srvBefore.MessagesSent)
				// 120 PINGs + 120 PONGs + 6 own republishes + 6 relayed per other node.
				if want := 246.0 + 6*float64(n-1); perNodeMsgs > 1.5*want {
					t.Errorf("%.0f gossip messages per node per minute at rest, expected about %.0f", perNodeMsgs, want)
				}
			})
		})
	}
}
