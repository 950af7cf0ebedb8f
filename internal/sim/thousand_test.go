package sim

import "testing"

// TestThousand runs the 1,000-node scenario. It takes tens of seconds and
// about a gigabyte, so it is skipped with -short and under the race
// detector (which would make it ~16x slower); CI runs it in its own step
// without -race. testdata/converge.txt is the same scenario at 100 nodes
// and always runs.
func TestThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000-node simulation skipped in -short mode")
	}
	if raceEnabled {
		t.Skip("1,000-node simulation skipped under the race detector (run it without -race)")
	}
	runScriptFile(t, "testdata/large/thousand.txt", TraceEvents)
}
