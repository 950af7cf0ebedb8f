package zyre_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if goroutines started by the loopback tests
// outlive them (synctest checks its own bubbles). Every node's Close must
// stop everything it started.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left behind after the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func leakedGoroutines() string {
	var stacks []string
	for range 200 { // wait for goroutines that are ending to end
		stacks = stacks[:0]
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "github.com/gozyre/zyre") && !strings.Contains(g, "leakedGoroutines") &&
				!strings.Contains(g, "testing.(*M).Run") {
				stacks = append(stacks, g)
			}
		}
		if len(stacks) == 0 {
			return ""
		}
		time.Sleep(10 * time.Millisecond)
	}
	return strings.Join(stacks, "\n\n")
}

// TestLeakCheckSees keeps the checker honest: it must see a live goroutine
// of ours.
func TestLeakCheckSees(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { leakProbe(stop); close(done) }()
	time.Sleep(time.Millisecond)
	if !strings.Contains(stacksNow(), "leakProbe") {
		t.Error("leak checker does not see our goroutines")
	}
	close(stop)
	<-done
}

func leakProbe(stop chan struct{}) { <-stop }

func stacksNow() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
