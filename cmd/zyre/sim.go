package main

import (
	"context"
	"os"

	"github.com/gozyre/zyre/internal/sim"
)

// runSim runs a simulator scenario (internal/sim's script format) and
// prints the transcript and the convergence report. Nothing touches a real
// network: every node is a protocol engine in this process.
func runSim(_ context.Context, e *env, args []string) error {
	f := newBareFlagSet(e, "sim", "SCRIPT",
		"Run a simulation scenario: thousands of ZRE nodes in one process on a simulated\n"+
			"network (loss, latency, partitions, crashes), deterministic for a given seed.\n"+
			"Prints each command's output, then a report: time until every node sees every\n"+
			"other, messages and bytes by command, events per node, memory. See docs/sim.md.")
	seed := f.Uint64("seed", 0, "replace the script's seed (0: keep the script's)")
	trace := f.String("trace", "", "write the packet and event trace to `file`")
	quiet := f.Bool("q", false, "print only the report")
	pos, err := parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("want one SCRIPT file (for example internal/sim/testdata/converge.txt)")
	}
	in, err := os.Open(pos[0])
	if err != nil {
		return failf("%v", err)
	}
	defer in.Close()
	opts := sim.ScriptOptions{Seed: *seed, SeedSet: *seed != 0}
	if *trace != "" {
		tf, err := os.Create(*trace)
		if err != nil {
			return failf("%v", err)
		}
		defer tf.Close()
		opts.Trace = tf
	}
	out := e.stdout
	if *quiet {
		out = nil
	}
	rep, err := sim.RunScript(in, out, opts)
	if *quiet {
		rep.WriteTo(e.stdout)
	}
	if err != nil {
		return failf("%v", err)
	}
	return nil
}
