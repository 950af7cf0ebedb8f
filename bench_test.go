package zyre_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/gozyre/zyre"
	"github.com/gozyre/zyre/internal/cputime"
)

// Node benchmarks on loopback (127.0.0.1, beacons to 127.255.255.255).
// Figures are recorded in docs/benchmarks.md.

var sizes = []struct {
	name string
	n    int
}{{"16B", 16}, {"1KiB", 1 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}}

// benchPair starts two nodes that have entered each other and joined G.
func benchPair(b *testing.B, mutate ...func(*zyre.Config)) (a, z *zyre.Node) {
	b.Helper()
	port := loopbackPort()
	var nodes []*zyre.Node
	for i := range 2 {
		cfg := loopbackConfig(port, fmt.Sprintf("b%d", i))
		cfg.Groups = []string{"G"}
		cfg.EvasiveTimeout, cfg.ExpiredTimeout = 5*time.Second, 30*time.Second
		for _, m := range mutate {
			m(cfg)
		}
		n, err := zyre.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
	}
	for i, n := range nodes {
		other := nodes[1-i].ID()
		waitEvent(b, n, func(ev zyre.Event) bool { _, ok := ev.(zyre.JoinEvent); return ok && ev.(zyre.JoinEvent).Peer == other })
	}
	return nodes[0], nodes[1]
}

func waitEvent(b testing.TB, n *zyre.Node, pred func(zyre.Event) bool) zyre.Event {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		ev, err := n.Recv(ctx)
		if err != nil {
			b.Fatalf("waiting for an event: %v", err)
		}
		if pred(ev) {
			return ev
		}
	}
}

// BenchmarkWhisper measures one-way whisper throughput between two nodes.
func BenchmarkWhisper(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) { benchOneWay(b, sz.n, false, false) })
	}
}

// BenchmarkWhisperRelease is BenchmarkWhisper with the receiver handing
// each message back with Node.Release.
func BenchmarkWhisperRelease(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) { benchOneWay(b, sz.n, false, true) })
	}
}

// BenchmarkShout measures one-way shout throughput to a group of one peer.
func BenchmarkShout(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) { benchOneWay(b, sz.n, true, false) })
	}
}

// BenchmarkWhisperCurve is BenchmarkWhisper with both nodes in CURVE mode.
func BenchmarkWhisperCurve(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) { benchOneWay(b, sz.n, false, false, withCurve(b)) })
	}
}

// BenchmarkWhisperCurveRelease is BenchmarkWhisperCurve with Node.Release.
func BenchmarkWhisperCurveRelease(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) { benchOneWay(b, sz.n, false, true, withCurve(b)) })
	}
}

// withCurve gives each node a key pair of its own.
func withCurve(b *testing.B) func(*zyre.Config) {
	return func(c *zyre.Config) {
		k, err := zyre.GenerateKeyPair()
		if err != nil {
			b.Fatal(err)
		}
		c.Curve = &k
	}
}

func benchOneWay(b *testing.B, size int, shout, release bool, mutate ...func(*zyre.Config)) {
	a, z := benchPair(b, mutate...)
	payload := make([]byte, size)
	ctx := context.Background()
	got := make(chan int, 1)
	go func() {
		n := 0
		for n < b.N {
			ev, err := z.Recv(ctx)
			if err != nil {
				break
			}
			switch ev.(type) {
			case zyre.WhisperEvent, zyre.ShoutEvent:
				n++
				if release {
					z.Release(ev)
				}
			}
		}
		got <- n
	}()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cputime.Process()
	for range b.N {
		var err error
		if shout {
			err = a.Shout(ctx, "G", payload)
		} else {
			err = a.Whisper(ctx, z.ID(), payload)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if n := <-got; n != b.N {
		b.Fatalf("received %d of %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	if cpu := cputime.Process() - cpu0; cpu > 0 {
		// Both nodes' CPU (they share the process): the cost of a
		// message, steadier than wall time on a shared machine.
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/msg")
	}
}

// BenchmarkWhisperRoundTrip measures whisper round trips (A -> B -> A).
func BenchmarkWhisperRoundTrip(b *testing.B) {
	a, z := benchPair(b)
	ctx := context.Background()
	go func() {
		for {
			ev, err := z.Recv(ctx)
			if err != nil {
				return
			}
			if w, ok := ev.(zyre.WhisperEvent); ok {
				if z.Whisper(ctx, w.Peer, w.Frames...) != nil {
					return
				}
			}
		}
	}()
	msg := []byte("ping")
	rtts := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := a.Whisper(ctx, z.ID(), msg); err != nil {
			b.Fatal(err)
		}
		waitEvent(b, a, func(ev zyre.Event) bool { _, ok := ev.(zyre.WhisperEvent); return ok })
		rtts = append(rtts, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(rtts)
	b.ReportMetric(float64(rtts[len(rtts)/2].Microseconds()), "median-us")
	b.ReportMetric(float64(rtts[len(rtts)*99/100].Microseconds()), "p99-us")
}

// BenchmarkDiscovery measures the time from the second node's Start to both
// nodes' ENTER, with a 100 ms beacon interval.
func BenchmarkDiscovery(b *testing.B) {
	var times []time.Duration
	for b.Loop() {
		port := loopbackPort()
		first, err := zyre.New(loopbackConfig(port, "d0"))
		if err != nil {
			b.Fatal(err)
		}
		if err := first.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		second, err := zyre.New(loopbackConfig(port, "d1"))
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := second.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		isEnterEv := func(ev zyre.Event) bool { _, ok := ev.(zyre.EnterEvent); return ok }
		waitEvent(b, first, isEnterEv)
		waitEvent(b, second, isEnterEv)
		times = append(times, time.Since(t0))
		first.Close()
		second.Close()
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
}

// BenchmarkMemoryPerPeer starts 31 fully meshed nodes in one process and
// reports heap bytes per peer relationship (each node knows 30 peers).
func BenchmarkMemoryPerPeer(b *testing.B) {
	const n = 31
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		port := loopbackPort()
		var nodes []*zyre.Node
		for i := range n {
			cfg := loopbackConfig(port, fmt.Sprintf("m%d", i))
			cfg.EvasiveTimeout, cfg.ExpiredTimeout = 5*time.Second, 30*time.Second
			node, err := zyre.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			if err := node.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			nodes = append(nodes, node)
		}
		for _, node := range nodes {
			seen := 0
			for seen < n-1 {
				if _, ok := waitEvent(b, node, func(ev zyre.Event) bool { _, ok := ev.(zyre.EnterEvent); return ok }).(zyre.EnterEvent); ok {
					seen++
				}
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		perPeer := float64(after.HeapInuse-before.HeapInuse) / float64(n*(n-1))
		b.ReportMetric(perPeer/1024, "KiB/peer")
		b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
		for _, node := range nodes {
			node.Close()
		}
	}
}
