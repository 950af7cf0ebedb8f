package sim

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/cputime"
)

// BenchmarkConverge measures one convergence of N nodes from a cold start
// (1 s beacons staggered over 1 s, 5% datagram loss, 1 ms ± 0.5 ms): wall
// time per convergence (ns/op), the virtual time it took, the peak heap
// sampled during the run and the traffic. 5000 is slow and large (see
// docs/sim.md): it runs only with ZYRE_SIM_BIG=1, and then with
// -benchtime=1x.
func BenchmarkConverge(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			if n > 1000 && os.Getenv("ZYRE_SIM_BIG") == "" {
				// Measured once: 5,000 nodes take ~20 minutes and a
				// 12.8 GB heap on 2 cores (docs/sim.md).
				b.Skipf("%d nodes take ~20 min and ~13 GB: set ZYRE_SIM_BIG=1 to run", n)
			}
			// The engines keep ~430 bytes per ordered pair of nodes (see
			// docs/sim.md); with garbage the peak is about 600 N² bytes.
			need := uint64(600) * uint64(n) * uint64(n)
			if avail, ok := memAvailable(); ok && avail < need+need/4 {
				b.Skipf("%d nodes need about %d MB, only %d MB available", n, need>>20, avail>>20)
			}
			var rep Report
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				runtime.GC()
				c0 := cputime.Process()
				b.StartTimer()
				rep = converge(b, n)
				cpu += cputime.Process() - c0
			}
			// CPU time (all threads, GC included) is steadier than wall
			// time on a shared machine.
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
			msgs, bytes := rep.Stats.MessageTotal()
			b.ReportMetric(rep.ConvergeTime.Seconds(), "sim-s")
			b.ReportMetric(float64(rep.PeakHeap)/(1<<20), "peak-MB")
			b.ReportMetric(float64(msgs), "msgs")
			b.ReportMetric(float64(bytes)/(1<<20), "msg-MB")
			b.ReportMetric(float64(rep.Stats.BeaconsDelivered), "beacons")
			b.ReportMetric(float64(rep.Stats.Steps), "steps")
		})
	}
}

func converge(b *testing.B, n int) Report {
	s := New(Options{Seed: 1, Link: Link{Latency: time.Millisecond, Jitter: 500 * time.Microsecond, Loss: 0.05}})
	s.AddNodes(n, NodeConfig{
		BeaconInterval: time.Second, EvasiveTimeout: 5 * time.Second, ExpiredTimeout: 30 * time.Second,
		Groups: []string{"G"}, Stagger: time.Second,
	})
	if !s.RunUntilConverged(30 * time.Second) {
		b.Fatalf("%d nodes did not converge in 30 virtual seconds (%d pairs missing)", n, s.Missing())
	}
	return s.Report()
}

// memAvailable reads MemAvailable from /proc/meminfo (Linux).
func memAvailable() (uint64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb uint64
		if n, _ := fmt.Sscanf(sc.Text(), "MemAvailable: %d kB", &kb); n == 1 {
			return kb << 10, true
		}
	}
	return 0, false
}
