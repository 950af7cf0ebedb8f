package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestSimReport(t *testing.T) {
	t.Parallel()
	script := filepath.Join("..", "..", "internal", "sim", "testdata", "converge.txt")
	trace := filepath.Join(t.TempDir(), "trace.txt")
	code, out, errOut := runZyre(t, "sim", "-q", "--trace", trace, script)
	if code != 0 {
		t.Fatalf("zyre sim exit %d: %s", code, errOut)
	}
	for _, want := range []string{"nodes         100", "converged     yes", "messages", "events/node", "peak heap"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// Same seed, same report (wall time and heap aside).
	_, again, _ := runZyre(t, "sim", "-q", script)
	if cut(out) != cut(again) {
		t.Errorf("two runs of one seed differ:\n%s\n---\n%s", out, again)
	}
	if code, _, _ := runZyre(t, "sim"); code != 2 {
		t.Errorf("sim without a script: exit %d, want 2", code)
	}
}

// cut drops the report lines that measure the machine, not the protocol.
func cut(report string) string {
	var keep []string
	for _, l := range strings.Split(report, "\n") {
		if !strings.HasPrefix(l, "wall time") && !strings.HasPrefix(l, "peak heap") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
