package zyre_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/gozyre/zyre"
	"github.com/gozyre/zyre/simnet"
)

// newSimNode starts a node on an in-memory network host, so the example
// runs anywhere without touching a real network.
func newSimNode(nw *simnet.Net, addr, name string) *zyre.Node {
	return mustStart(&zyre.Config{
		Name:           name,
		Network:        nw.Host(netip.MustParseAddr(addr)),
		Interface:      addr,
		BeaconInterval: 100 * time.Millisecond,
	})
}

// mustStart creates and starts a node, or panics.
func mustStart(cfg *zyre.Config) *zyre.Node {
	node, err := zyre.New(cfg)
	if err != nil {
		panic(err)
	}
	if err := node.Start(context.Background()); err != nil {
		panic(err)
	}
	return node
}

// waitFor reads events until one satisfies match.
func waitFor[E zyre.Event](ctx context.Context, n *zyre.Node, match func(E) bool) E {
	for ev := range n.Events(ctx) {
		if e, ok := ev.(E); ok && match(e) {
			return e
		}
	}
	panic("no such event")
}

// Two nodes meet, one joins a group, the other shouts to it and whispers.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nw := simnet.New(1)
	defer nw.Close()
	alice := newSimNode(nw, "10.0.0.1", "alice")
	bob := newSimNode(nw, "10.0.0.2", "bob")
	defer alice.Close()
	defer bob.Close()

	enter := waitFor(ctx, alice, func(e zyre.EnterEvent) bool { return true })
	fmt.Println("alice sees", enter.Name, "enter")

	if err := alice.Join(ctx, "CHAT"); err != nil {
		panic(err)
	}
	waitFor(ctx, bob, func(e zyre.JoinEvent) bool { return e.Group == "CHAT" })
	if err := bob.Shout(ctx, "CHAT", []byte("hello, CHAT")); err != nil {
		panic(err)
	}
	shout := waitFor(ctx, alice, func(e zyre.ShoutEvent) bool { return true })
	fmt.Printf("%s shouts to %s: %s\n", shout.Name, shout.Group, shout.Frames[0])

	if err := bob.Whisper(ctx, alice.ID(), []byte("just for you")); err != nil {
		panic(err)
	}
	whisper := waitFor(ctx, alice, func(e zyre.WhisperEvent) bool { return true })
	fmt.Printf("%s whispers: %s\n", whisper.Name, whisper.Frames[0])

	if err := bob.Shutdown(ctx); err != nil {
		panic(err)
	}
	exit := waitFor(ctx, alice, func(e zyre.ExitEvent) bool { return true })
	fmt.Println(exit.Name, "left")
	// Output:
	// alice sees bob enter
	// bob shouts to CHAT: hello, CHAT
	// bob whispers: just for you
	// bob left
}

// Events is the usual way to consume a node: a range loop over its
// events, with a type switch.
func ExampleNode_Events() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nw := simnet.New(2)
	defer nw.Close()
	a := newSimNode(nw, "10.0.0.1", "a")
	b := newSimNode(nw, "10.0.0.2", "b")
	defer a.Close()
	go func() {
		waitFor(ctx, b, func(e zyre.EnterEvent) bool { return true })
		b.Whisper(ctx, a.ID(), []byte("hi a"))
		waitFor(ctx, b, func(e zyre.WhisperEvent) bool { return true })
		b.Shutdown(ctx)
	}()
	for ev := range a.Events(ctx) {
		switch ev := ev.(type) {
		case zyre.EnterEvent:
			fmt.Println("ENTER", ev.Name)
		case zyre.WhisperEvent:
			fmt.Printf("WHISPER from %s: %s\n", ev.Name, ev.Frames[0])
			a.Whisper(ctx, ev.Peer, []byte("hi b"))
		case zyre.ExitEvent:
			fmt.Println("EXIT", ev.Name)
			return
		}
	}
	// Output:
	// ENTER b
	// WHISPER from b: hi a
	// EXIT b
}

// A receiver of large messages hands each one back once it is done with
// it, so that the next ones need no fresh memory.
func ExampleNode_Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nw := simnet.New(2)
	defer nw.Close()
	sender := newSimNode(nw, "10.0.0.1", "sender")
	receiver := newSimNode(nw, "10.0.0.2", "receiver")
	defer sender.Close()
	defer receiver.Close()
	waitFor(ctx, sender, func(e zyre.EnterEvent) bool { return e.Peer == receiver.ID() })

	go func() {
		for i := range 3 {
			chunk := make([]byte, 256<<10)
			chunk[0] = byte(i)
			if err := sender.Whisper(ctx, receiver.ID(), chunk); err != nil {
				panic(err)
			}
		}
	}()
	total := 0
	for range 3 {
		w := waitFor(ctx, receiver, func(e zyre.WhisperEvent) bool { return true })
		total += len(w.Frames[0])
		fmt.Printf("chunk %d: %d KiB\n", w.Frames[0][0], len(w.Frames[0])>>10)
		receiver.Release(w) // done with it: w.Frames must not be used after this
	}
	fmt.Println("total", total>>10, "KiB")
	// Output:
	// chunk 0: 256 KiB
	// chunk 1: 256 KiB
	// chunk 2: 256 KiB
	// total 768 KiB
}

// CURVE mode: every connection is encrypted, and AllowKeys decides which
// keys may connect at all. Here each node allows the other.
func Example_curve() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nw := simnet.New(3)
	defer nw.Close()
	aliceKeys, _ := zyre.GenerateKeyPair()
	bobKeys, _ := zyre.GenerateKeyPair()
	allowed := []zyre.PublicKey{aliceKeys.Public, bobKeys.Public}
	start := func(addr, name string, keys *zyre.KeyPair) *zyre.Node {
		return mustStart(&zyre.Config{
			Name:           name,
			Network:        nw.Host(netip.MustParseAddr(addr)),
			Interface:      addr,
			BeaconInterval: 100 * time.Millisecond,
			Curve:          keys,
			AllowKeys:      allowed,
		})
	}
	alice := start("10.0.0.1", "alice", &aliceKeys)
	bob := start("10.0.0.2", "bob", &bobKeys)
	defer alice.Close()
	defer bob.Close()

	enter := waitFor(ctx, alice, func(e zyre.EnterEvent) bool { return true })
	fmt.Println("alice sees", enter.Name, "enter; its key is bob's:", enter.Headers["X-PUBLICKEY"] == bobKeys.Public.String())
	waitFor(ctx, bob, func(e zyre.EnterEvent) bool { return true })
	if err := bob.Whisper(ctx, alice.ID(), []byte("sealed")); err != nil {
		panic(err)
	}
	w := waitFor(ctx, alice, func(e zyre.WhisperEvent) bool { return true })
	fmt.Printf("%s whispers: %s\n", w.Name, w.Frames[0])
	// Output:
	// alice sees bob enter; its key is bob's: true
	// bob whispers: sealed
}

// Nodes that beacons cannot reach find each other through a gossip
// server; with a key pair the links to it are CURVE, and nodes give its
// public key after the endpoint.
func ExampleGossipServer() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nw := simnet.New(4)
	defer nw.Close()
	serverKeys, _ := zyre.GenerateKeyPair()
	srv, err := zyre.NewGossipServer(&zyre.GossipConfig{
		Bind:    "tcp://10.0.9.1:5670",
		Network: nw.Host(netip.MustParseAddr("10.0.9.1")),
		Curve:   &serverKeys,
	})
	if err != nil {
		panic(err)
	}
	if err := srv.Start(ctx); err != nil {
		panic(err)
	}
	defer srv.Close()
	server := srv.Endpoint() + "|" + serverKeys.Public.String()

	var nodes []*zyre.Node
	for i, name := range []string{"alice", "bob"} {
		keys, _ := zyre.GenerateKeyPair()
		addr := fmt.Sprintf("10.0.%d.1", i+1) // different subnets: no beacons between them
		node := mustStart(&zyre.Config{
			Name:          name,
			Network:       nw.Host(netip.MustParseAddr(addr)),
			Interface:     addr,
			DisableBeacon: true,
			GossipConnect: []string{server},
			Curve:         &keys,
		})
		defer node.Close()
		nodes = append(nodes, node)
	}
	enter := waitFor(ctx, nodes[0], func(e zyre.EnterEvent) bool { return true })
	fmt.Println("alice met", enter.Name, "through gossip")
	// Output:
	// alice met bob through gossip
}
