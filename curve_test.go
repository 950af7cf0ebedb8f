package zyre_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gozyre/zyre"
	"github.com/gozyre/zyre/internal/zmtp"
	"github.com/gozyre/zyre/internal/zmtp/curve"
	"github.com/gozyre/zyre/internal/zre"
)

func mustKeys(t *testing.T) zyre.KeyPair {
	t.Helper()
	k, err := zyre.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCurveNodesTalk(t *testing.T) {
	keys := []zyre.KeyPair{mustKeys(t), mustKeys(t)}
	nodes, recs := startLoopback(t, 2, func(i int, c *zyre.Config) {
		c.Curve = &keys[i]
		c.Groups = []string{"SECRET"}
	})
	for i, r := range recs {
		r.WaitFor(t, waitBound, "ENTER", enteredAll(ids(nodes, i)))
	}
	for _, ev := range recs[0].Events() {
		if e, ok := ev.(zyre.EnterEvent); ok && e.Headers["X-PUBLICKEY"] != keys[1].Public.String() {
			t.Errorf("ENTER headers %v, want X-PUBLICKEY %s", e.Headers, keys[1].Public)
		}
	}
	recs[0].WaitFor(t, waitBound, "JOIN", has(isJoin(nodes[1].ID(), "SECRET")))
	ctx := t.Context()
	big := bytes.Repeat([]byte("s"), 1<<20)
	if err := nodes[0].Shout(ctx, "SECRET", []byte("psst"), big); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].Whisper(ctx, nodes[0].ID(), []byte("back")); err != nil {
		t.Fatal(err)
	}
	recs[1].WaitFor(t, waitBound, "encrypted SHOUT", has(isShout("SECRET", "psst")))
	recs[0].WaitFor(t, waitBound, "encrypted WHISPER", has(isWhisper("back")))
}

func TestCurveAllowList(t *testing.T) {
	keys := []zyre.KeyPair{mustKeys(t), mustKeys(t), mustKeys(t)}
	// Node 0 allows only node 1.
	nodes, recs := startLoopback(t, 3, func(i int, c *zyre.Config) {
		c.Curve = &keys[i]
		if i == 0 {
			c.AllowKeys = []zyre.PublicKey{keys[1].Public}
		}
	})
	recs[0].WaitFor(t, waitBound, "ENTER of the allowed node", has(isEnter(nodes[1].ID())))
	recs[2].WaitFor(t, waitBound, "ENTER of node 1", has(isEnter(nodes[1].ID())))
	deadline := time.Now().Add(waitBound)
	for nodes[0].Stats().PeersRejected == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the refused node was never counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := recs[0].Count(isEnter(nodes[2].ID())); n != 0 {
		t.Errorf("a node whose key is not allowed entered")
	}
}

// A peer that proves one key in the handshake and announces another in
// HELLO is refused.
func TestCurveAnnouncedKeyMustBeProven(t *testing.T) {
	nodeKeys := mustKeys(t)
	n, rec := startWireNode(t, func(c *zyre.Config) { c.Curve = &nodeKeys })
	proving, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other := mustKeys(t)
	peer := zre.UUID{0xBA, 0xD}
	nc, err := net.Dial("tcp", strings.TrimPrefix(n.Endpoint(), "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := zmtp.Handshake(t.Context(), nc, zmtp.Config{
		SocketType: zmtp.SocketDealer,
		Identity:   append([]byte{1}, peer[:]...),
		Mechanism:  &curve.Client{Key: proving, ServerKey: nodeKeys.Public},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hello := &zre.Hello{Sequence: 1, Endpoint: "tcp://127.0.0.1:9", Name: "liar",
		Headers: []zre.Header{{Key: "X-PUBLICKEY", Value: other.Public.String()}}}
	f0, _ := hello.Append(nil)
	send(t, c, [][]byte{f0})
	deadline := time.Now().Add(waitBound)
	for n.Stats().PeersRejected == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the lying peer was not refused")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := rec.Count(isEnter(zyre.PeerID(peer))); got != 0 {
		t.Error("the lying peer entered")
	}
}

func TestCurveAndPlainDoNotMeet(t *testing.T) {
	keys := mustKeys(t)
	nodes, recs := startLoopback(t, 3, func(i int, c *zyre.Config) {
		if i == 0 {
			c.Curve = &keys
		}
	})
	recs[1].WaitFor(t, waitBound, "plain nodes meet", has(isEnter(nodes[2].ID())))
	// Give the CURVE node many beacon intervals: it must stay alone.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	<-ctx.Done()
	if peers, _ := nodes[0].Peers(t.Context()); len(peers) != 0 {
		t.Errorf("CURVE node sees %d plain peers", len(peers))
	}
	if recs[1].Count(isEnter(nodes[0].ID())) != 0 {
		t.Errorf("a plain node entered the CURVE node")
	}
}

func TestKeysAndCertificates(t *testing.T) {
	k := mustKeys(t)
	if strings.Contains(k.String(), curve.EncodeKey(k.Secret)) {
		t.Error("String leaks the secret")
	}
	path := t.TempDir() + "/node.cert"
	if err := zyre.SaveCertificate(path, k); err != nil {
		t.Fatal(err)
	}
	back, err := zyre.LoadCertificate(path)
	if err != nil || back != k {
		t.Fatalf("LoadCertificate = %v, %v", back, err)
	}
	p, err := zyre.ParsePublicKey(k.Public.String())
	if err != nil || p != k.Public {
		t.Fatal("public key text round trip")
	}
	if _, err := zyre.New(&zyre.Config{AllowKeys: []zyre.PublicKey{p}}); err == nil {
		t.Error("AllowKeys without Curve accepted")
	}
}
