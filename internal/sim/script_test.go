package sim

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	rewrite  = flag.Bool("rewrite", false, "rewrite the expected outputs in testdata scripts")
	seedFlag = flag.Uint64("seed", 0, "run the scripts with this seed instead of their own (expected outputs may then differ)")
)

func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			runScriptFile(t, f, TracePackets)
		})
	}
}

// runScriptFile runs a script with its trace hashed. On failure it logs
// the seed, replays the run (same seed, same trace) into a trace file in
// the test's artifact directory and fails.
func runScriptFile(t *testing.T, path string, level TraceLevel) *Runner {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ParseScript(path, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	opts := ScriptOptions{Trace: sha256.New(), TraceLevel: level, Rewrite: *rewrite}
	if *seedFlag != 0 {
		opts.Seed, opts.SeedSet = *seedFlag, true
	}
	r := NewRunner(opts)
	err = r.Run(sc)
	if *rewrite {
		if werr := os.WriteFile(path, sc.Rewrite(), 0o644); werr != nil {
			t.Fatal(werr)
		}
	}
	if err != nil {
		t.Logf("seed %d (rerun with -seed=%d to vary it)", r.Seed(), r.Seed())
		dumpTrace(t, data, path, opts, level)
		t.Fatal(err)
	}
	if r.Sim() != nil {
		rep := r.Sim().Report()
		t.Logf("%s: seed %d, %d nodes, virtual %s, wall %s, %d engine steps, peak heap %.0f MB",
			path, r.Seed(), rep.Nodes, fmtDur(rep.SimTime), rep.Wall.Round(1e6), rep.Stats.Steps, float64(rep.PeakHeap)/(1<<20))
	}
	return r
}

// dumpTrace replays a failed script with its trace going to a file in the
// artifact directory (kept with go test -artifacts).
func dumpTrace(t *testing.T, data []byte, path string, opts ScriptOptions, level TraceLevel) {
	t.Helper()
	name := filepath.Join(t.ArtifactDir(), strings.TrimSuffix(filepath.Base(path), ".txt")+".trace")
	f, err := os.Create(name)
	if err != nil {
		t.Logf("trace: %v", err)
		return
	}
	defer f.Close()
	sc, _ := ParseScript(path, bytes.NewReader(data))
	opts.Trace, opts.TraceLevel, opts.Rewrite = f, level, true
	var transcript strings.Builder
	opts.Echo = &transcript
	NewRunner(opts).Run(sc)
	t.Logf("trace of the failed run: %s (keep it with go test -artifacts=DIR)", name)
	t.Logf("transcript of the replay:\n%s", lastLines(transcript.String(), 40))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
