package sim

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/engine"
	"github.com/gozyre/zyre/internal/zre"
)

// detScript exercises every source of randomness and every fault: loss,
// jitter, staggered start, a partition with stalls and resets, pair drops
// and delays, crash and restart with either UUID, a graceful stop.
const detScript = `
link latency=1ms jitter=700us loss=0.1 stall=2s
add-nodes 50 beacon=1s evasive=3s expired=10s stagger=1s groups=G
run-until converged max=5s
shout 3 G one
whisper 4 5 two
partition 0-24 | 25-49
run 4s
drop 1 2 0.5
delay 2 1 30ms
heal
run 2s
clear-faults
crash 7,8
restart 8 new-id
run 3s
restart 7
stop 9
run 12s
`

// runTraced runs detScript with the given seed and returns the sha256 of
// its full packet trace and the trace length.
func runTraced(t *testing.T, seed uint64, eager bool) ([32]byte, int) {
	t.Helper()
	h := sha256.New()
	var n countWriter
	r := NewRunner(ScriptOptions{Seed: seed, SeedSet: true, Trace: &n, TraceLevel: TracePackets})
	n.w = h
	sc, err := ParseScript("det", strings.NewReader(detScript))
	if err != nil {
		t.Fatal(err)
	}
	// add-nodes makes the simulator; switch the arming rule right after.
	for k, c := range sc.Commands() {
		if _, err := r.Exec(c.Args); err != nil {
			t.Fatalf("seed %d: %s: %v", seed, c.Text, err)
		}
		if k == 1 {
			r.Sim().eagerArm = eager
		}
	}
	if err := r.Sim().Flush(); err != nil {
		t.Fatal(err)
	}
	if err := r.Sim().Verify(); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n.n
}

type countWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += len(p)
	return c.w.Write(p)
}

func TestDeterministicTrace(t *testing.T) {
	a, na := runTraced(t, 42, false)
	b, nb := runTraced(t, 42, false)
	if a != b || na != nb {
		t.Fatalf("seed 42 gave two different traces: %x (%d bytes) and %x (%d bytes)", a, na, b, nb)
	}
	if na < 1<<20 {
		t.Fatalf("trace suspiciously short: %d bytes", na)
	}
	t.Logf("trace: %d bytes, sha256 %x", na, a)
	if c, _ := runTraced(t, 43, false); c == a {
		t.Fatal("seeds 42 and 43 gave the same trace")
	}
}

// TestLazyArm checks that re-arming a node's tick only after steps that
// can move its deadline earlier (see Sim.step) changes nothing: the trace
// equals the one with NextDeadline read after every step.
func TestLazyArm(t *testing.T) {
	lazy, _ := runTraced(t, 5, false)
	eager, _ := runTraced(t, 5, true)
	if lazy != eager {
		t.Fatal("lazy and eager tick arming gave different traces")
	}
}

// TestTraceFormat pins the shape of a few trace lines.
func TestTraceFormat(t *testing.T) {
	var buf bytes.Buffer
	s := New(Options{Seed: 1, Trace: &buf, Link: Link{Latency: time.Millisecond}})
	s.AddNodes(2, NodeConfig{BeaconInterval: time.Second})
	if !s.RunUntilConverged(time.Second) {
		t.Fatal("2 nodes did not converge")
	}
	s.Flush()
	want := `0.001000000 n0 beacon n0 port=49152
0.001000000 n0 beacon n1 port=49152
0.001000000 n0 connect n1
0.001000000 n1 beacon n1 port=49152
0.002000000 n1 recv HELLO n0 seq=1 39B
0.002000000 n1 connect n0
0.002000000 n1 event ENTER n0
0.003000000 n0 recv HELLO n1 seq=1 39B
0.003000000 n0 event ENTER n1
`
	// Node 0 starts first: its first beacon finds node 1 not yet bound.
	if got := buf.String(); got != want {
		t.Errorf("trace:\n%s\nwant:\n%s", got, want)
	}
}

func TestAppendTime(t *testing.T) {
	for _, c := range []struct {
		ns   int64
		want string
	}{
		{0, "0.000000000"},
		{1, "0.000000001"},
		{1_500_000_000, "1.500000000"},
		{123_000_000_007, "123.000000007"},
	} {
		if got := string(appendTime(nil, c.ns)); got != c.want {
			t.Errorf("appendTime(%d) = %q, want %q", c.ns, got, c.want)
		}
	}
}

func TestQueueOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var q queue
	var seq uint64
	for round := range 50 {
		for range rng.IntN(200) {
			q.push(event{at: rng.Int64N(100), seq: seq})
			seq++
		}
		last := event{at: -1}
		for range rng.IntN(len(q) + 1) {
			e := q.pop()
			if e.before(&last) {
				t.Fatalf("round %d: popped (%d,%d) after (%d,%d)", round, e.at, e.seq, last.at, last.seq)
			}
			last = e
		}
		// Whatever is left must not be earlier than what was popped.
		for _, e := range q {
			if e.before(&last) {
				t.Fatalf("round %d: (%d,%d) left behind (%d,%d)", round, e.at, e.seq, last.at, last.seq)
			}
		}
	}
}

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		err  bool
	}{
		{"all", "[0 1 2 3 4]", false},
		{"3", "[3]", false},
		{"1-3", "[1 2 3]", false},
		{"0,2-3", "[0 2 3]", false},
		{"3-1", "", true},
		{"5", "", true},
		{"x", "", true},
	} {
		got, err := parseRange(c.in, 5)
		if (err != nil) != c.err || (err == nil && fmt.Sprint(got) != c.want) {
			t.Errorf("parseRange(%q) = %v, %v; want %s (error %v)", c.in, got, err, c.want, c.err)
		}
	}
	if got := fmtRange([]int{-1, 0, 1, 2, 5, 7, 8}); got != "?,0-2,5,7-8" {
		t.Errorf("fmtRange = %q", got)
	}
	if got := fmt.Sprint(splitBar([]string{"0-4", "|", "5", "6|7"})); got != "[[0-4] [5 6] [7]]" {
		t.Errorf("splitBar = %s", got)
	}
}

// TestHook counts HELLOs with a hook and then drops every PING: with
// beacons lost the peers turn evasive and, their PINGs lost, expire.
func TestHook(t *testing.T) {
	s := New(Options{Seed: 9, Link: Link{Latency: time.Millisecond}})
	hellos := 0
	s.SetHook(func(p *Packet) bool {
		if p.Kind == PacketMessage && p.Cmd == zre.CmdHello {
			hellos++
			if _, err := zre.ParseFrames(p.Frames); err != nil {
				t.Errorf("hook frames do not parse: %v", err)
			}
		}
		return false
	})
	const n = 8
	s.AddNodes(n, NodeConfig{BeaconInterval: time.Second, EvasiveTimeout: 2 * time.Second, ExpiredTimeout: 6 * time.Second})
	if !s.RunUntilConverged(3 * time.Second) {
		t.Fatal("no convergence")
	}
	if hellos != n*(n-1) {
		t.Errorf("%d HELLOs, want %d", hellos, n*(n-1))
	}
	s.SetHook(func(p *Packet) bool {
		return p.Kind == PacketBeacon && (p.From == 0) != (p.To == 0) || p.Kind == PacketMessage && p.Cmd == zre.CmdPing
	})
	s.Mark()
	s.Run(7 * time.Second)
	if got := s.EventCount(1, engine.EventExit); got != 1 {
		t.Errorf("node 1: %d EXITs, want 1", got)
	}
	if got := s.ReadyPeers(0); got != 0 {
		t.Errorf("node 0 still has %d peers", got)
	}
	if err := s.Verify(); err != nil {
		t.Error(err)
	}
}

// TestCodecRoundTrip checks that content survives the codec and that the
// receiver's copy does not alias the sender's.
func TestCodecRoundTrip(t *testing.T) {
	s := New(Options{Seed: 1})
	s.AddNodes(2, NodeConfig{BeaconInterval: time.Second, Groups: []string{"G"}})
	s.RunUntilConverged(time.Second)
	frames := [][]byte{[]byte("a"), []byte("bc")}
	if err := s.Shout(0, "G", frames...); err != nil {
		t.Fatal(err)
	}
	frames[0][0] = 'X' // the sender reuses its buffer after the send
	s.Run(10 * time.Millisecond)
	if got := s.Delivered("G", []byte("a"), []byte("bc")); got[1] != 1 {
		t.Fatalf("delivered %v", got)
	}
}

func TestScriptErrors(t *testing.T) {
	for _, c := range []struct{ script, want string }{
		{"run 1s", "no nodes yet"},
		{"add-nodes 2\nseed 3", "seed must come before"},
		{"add-nodes 2\nfrobnicate", "unknown command"},
		{"add-nodes 2\nexpect peers all = 1", "2 of 2 nodes differ: n0=0 n1=0 (values: 0×2)"},
		{"add-nodes 3\nrun 2s\nexpect delivered G x = 2", "0 nodes received it exactly once; 3 live nodes never"},
		{"link latency=1ms\nadd-nodes 2\nrun-until converged max=1ms", "not converged after 1ms"},
		{"add-nodes 2\ncrash 0\ncrash 0", "node 0 is down"},
		{"add-nodes 2\nexpect counter nope all = 0", "unknown counter"},
		{"add-nodes 2\nrun 1s\nstatus\n----\nwrong\n", "output differs"},
	} {
		_, err := RunScript(strings.NewReader(c.script), nil, ScriptOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want it to contain %q", c.script, err, c.want)
		}
	}
}

func TestRunScriptReport(t *testing.T) {
	var out bytes.Buffer
	rep, err := RunScript(strings.NewReader("seed 1\nadd-nodes 5 stagger=100ms\nrun-until converged max=2s\nexpect converged\n"), &out, ScriptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Converged || rep.ConvergeTime <= 0 || rep.Nodes != 5 || rep.Stats.Messages[zre.CmdHello].Sent != 20 {
		t.Errorf("report: %+v", rep)
	}
	for _, w := range []string{"> run-until converged max=2s", "converged after", "first convergence", "HELLO", "peak heap", "wall time"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
}
