package zyre_test

import (
	"bytes"
	"context"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/gozyre/zyre"
	"github.com/gozyre/zyre/simnet"
	"github.com/gozyre/zyre/zyretest"
)

// Frames handed back with Release are read into again: later large
// messages land in memory released before, and every message still
// arrives intact, in plain and CURVE mode, by whisper and by shout.
// Release clears the event's frames; a second one, one of another event
// and one before Start do nothing.
func TestSimRelease(t *testing.T) {
	for _, curve := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "curve"}[curve], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testRelease(t, curve) })
		})
	}
}

func testRelease(t *testing.T, curve bool) {
	nw := simnet.New(17)
	t.Cleanup(func() { nw.Close() })
	var nodes []*zyre.Node
	for i := range 2 {
		addr := zyretest.HostAddr(i)
		cfg := &zyre.Config{Network: nw.Host(addr), Interface: addr.String(), Groups: []string{"G"}}
		if curve {
			k := mustKeys(t)
			cfg.Curve = &k
		}
		n, err := zyre.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		n.Release(zyre.WhisperEvent{Frames: [][]byte{make([]byte, 64<<10)}}) // before Start: nothing
		if err := n.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
	}
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	var enter zyre.Event
	for joined := false; !joined; {
		ev, err := b.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b.Release(ev) // not a message: nothing
		if _, ok := ev.(zyre.EnterEvent); ok {
			enter = ev
		}
		j, ok := ev.(zyre.JoinEvent)
		joined = ok && j.Peer == a.ID()
	}
	if e := enter.(zyre.EnterEvent); e.Peer != a.ID() {
		t.Fatalf("ENTER of %v", e.Peer)
	}
	for joined := false; !joined; {
		ev, err := a.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		j, ok := ev.(zyre.JoinEvent)
		joined = ok && j.Peer == b.ID()
	}
	// One message at a time, each sent once the one before is released,
	// so that the mailbox reads every message after a release.
	const count = 40
	next := make(chan struct{}, 1)
	next <- struct{}{}
	go func() {
		for i := range count {
			<-next
			msg := bytes.Repeat([]byte{byte(i)}, 64<<10)
			var err error
			if i%2 == 0 {
				err = a.Whisper(ctx, b.ID(), msg, []byte{byte(i)})
			} else {
				err = a.Shout(ctx, "G", msg, []byte{byte(i)})
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	released := map[*byte]bool{}
	reused := 0
	for i := 0; i < count; {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		ev, err := b.Recv(ctx)
		cancel()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		frames, ok := messageFrames(ev)
		if !ok {
			continue
		}
		if len(frames) != 2 || !bytes.Equal(frames[1], []byte{byte(i)}) || !bytes.Equal(frames[0], bytes.Repeat([]byte{byte(i)}, 64<<10)) {
			t.Fatalf("message %d damaged", i)
		}
		p := unsafe.SliceData(frames[0])
		if released[p] {
			reused++
		}
		released[p] = true
		b.Release(ev)
		if frames[0] != nil || frames[1] != nil {
			t.Fatalf("message %d: frames not cleared by Release", i)
		}
		b.Release(ev) // again: nothing
		i++
		next <- struct{}{}
	}
	// All but the first (two with CURVE: the first frame is allocated at
	// its exact size, which is no size class of the reused ones).
	if reused < count-2 {
		t.Errorf("only %d of %d messages read into released memory", reused, count)
	}
}
