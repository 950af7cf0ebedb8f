package zyre_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gozyre/zyre"
)

// recorder drains a node's events in the background and lets a test wait
// for a condition over everything seen so far.
type recorder struct {
	node *zyre.Node
	mu   sync.Mutex
	cond *sync.Cond
	evs  []zyre.Event
	done bool
	wg   sync.WaitGroup
}

func record(n *zyre.Node) *recorder {
	r := &recorder{node: n}
	r.cond = sync.NewCond(&r.mu)
	r.wg.Go(func() {
		for ev := range n.Events(context.Background()) {
			r.mu.Lock()
			r.evs = append(r.evs, ev)
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

// events returns a copy of what was seen so far.
func (r *recorder) events() []zyre.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

// waitFor waits until pred holds over the events seen, or fails the test
// after timeout (a generous bound to keep a broken test from hanging, not
// a timing assertion).
func (r *recorder) waitFor(t testing.TB, timeout time.Duration, what string, pred func([]zyre.Event) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	stop := time.AfterFunc(timeout, func() { r.cond.Broadcast() })
	defer stop.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for !pred(r.evs) {
		if r.done || time.Now().After(deadline) {
			t.Fatalf("%s: waited for %s; events: %s", r.node.Name(), what, describe(r.evs))
		}
		r.cond.Wait()
	}
}

// wait is waitFor with a default bound.
func (r *recorder) wait(t testing.TB, what string, pred func([]zyre.Event) bool) {
	t.Helper()
	r.waitFor(t, 20*time.Second, what, pred)
}

func describe(evs []zyre.Event) string {
	s := ""
	for _, ev := range evs {
		s += fmt.Sprintf("\n  %s %+v", ev.Type(), ev)
	}
	return s
}

func count(evs []zyre.Event, match func(zyre.Event) bool) int {
	n := 0
	for _, ev := range evs {
		if match(ev) {
			n++
		}
	}
	return n
}

func isEnter(id zyre.PeerID) func(zyre.Event) bool {
	return func(ev zyre.Event) bool { e, ok := ev.(zyre.EnterEvent); return ok && e.Peer == id }
}

func isExit(id zyre.PeerID) func(zyre.Event) bool {
	return func(ev zyre.Event) bool { e, ok := ev.(zyre.ExitEvent); return ok && e.Peer == id }
}

func isEvasive(id zyre.PeerID) func(zyre.Event) bool {
	return func(ev zyre.Event) bool { e, ok := ev.(zyre.EvasiveEvent); return ok && e.Peer == id }
}

func isJoin(id zyre.PeerID, group string) func(zyre.Event) bool {
	return func(ev zyre.Event) bool { e, ok := ev.(zyre.JoinEvent); return ok && e.Peer == id && e.Group == group }
}

func isLeave(id zyre.PeerID, group string) func(zyre.Event) bool {
	return func(ev zyre.Event) bool { e, ok := ev.(zyre.LeaveEvent); return ok && e.Peer == id && e.Group == group }
}

func isShout(group, text string) func(zyre.Event) bool {
	return func(ev zyre.Event) bool {
		e, ok := ev.(zyre.ShoutEvent)
		return ok && e.Group == group && len(e.Frames) > 0 && string(e.Frames[0]) == text
	}
}

func isWhisper(text string) func(zyre.Event) bool {
	return func(ev zyre.Event) bool {
		e, ok := ev.(zyre.WhisperEvent)
		return ok && len(e.Frames) > 0 && string(e.Frames[0]) == text
	}
}

func has(match func(zyre.Event) bool) func([]zyre.Event) bool {
	return func(evs []zyre.Event) bool { return count(evs, match) > 0 }
}

// enteredAll reports whether ENTER was seen for every id in ids.
func enteredAll(ids []zyre.PeerID) func([]zyre.Event) bool {
	return func(evs []zyre.Event) bool {
		for _, id := range ids {
			if count(evs, isEnter(id)) == 0 {
				return false
			}
		}
		return true
	}
}
