package curve

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/zmtp"
)

// lockedRand is a deterministic, concurrency-safe randomness source.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func newRand(seed byte) *lockedRand {
	var s [32]byte
	s[0] = seed
	return &lockedRand{r: rand.NewChaCha8(s)}
}

func (l *lockedRand) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// testKey returns a deterministic key pair.
func testKey(t testing.TB, seed byte) KeyPair {
	t.Helper()
	kp, err := GenerateKeyPair(newRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func key32(t testing.TB, s string) (k [32]byte) {
	t.Helper()
	b := mustHex(t, s)
	if len(b) != 32 {
		t.Fatalf("key %s is %d bytes", s, len(b))
	}
	copy(k[:], b)
	return k
}

// dealerIdentity is a ZRE-style identity: 0x01 + 16 bytes.
func dealerIdentity(seed byte) []byte {
	id := make([]byte, 17)
	id[0] = 1
	for i := 1; i < 17; i++ {
		id[i] = seed + byte(i)
	}
	return id
}

// handshakePair runs zmtp.Handshake on both ends of a connection pair: a
// DEALER with the client mechanism on c and a ROUTER with the server
// mechanism on s. It returns both connections or both errors.
func handshakePair(t testing.TB, c, s net.Conn, client, server zmtp.Mechanism) (cc, sc *zmtp.Conn, cerr, serr error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		sc, serr = zmtp.Handshake(ctx, s, zmtp.Config{SocketType: zmtp.SocketRouter, Mechanism: server})
	})
	cc, cerr = zmtp.Handshake(ctx, c, zmtp.Config{SocketType: zmtp.SocketDealer, Identity: dealerIdentity(1), Mechanism: client})
	wg.Wait()
	t.Cleanup(func() {
		if cc != nil {
			cc.Close()
		}
		if sc != nil {
			sc.Close()
		}
	})
	return cc, sc, cerr, serr
}

// tcpPair returns the two ends of a TCP loopback connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		ch <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-ch
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// pipePair returns the two ends of a net.Pipe.
func pipePair(t testing.TB) (client, server net.Conn) {
	client, server = net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// mechPair returns a matching client and server with deterministic keys.
func mechPair(t testing.TB) (*Client, *Server) {
	sk := testKey(t, 1)
	ck := testKey(t, 2)
	return &Client{Key: ck, ServerKey: sk.Public, Rand: newRand(3)},
		&Server{Key: sk, Rand: newRand(4)}
}

// fakeHC is a zmtp.HandshakeConn fed from a list of command frame bodies.
// It records what the mechanism sends.
type fakeHC struct {
	in   [][]byte // command bodies (name length, name, data)
	sent []zmtp.Command
	// onSend, if set, is called for each sent command (used to chain
	// two mechanisms).
	onSend func(zmtp.Command)
}

func (f *fakeHC) SendCommand(name string, data []byte) error {
	cmd := zmtp.Command{Name: name, Data: bytes.Clone(data)}
	f.sent = append(f.sent, cmd)
	if f.onSend != nil {
		f.onSend(cmd)
	}
	return nil
}

func (f *fakeHC) RecvCommand() (zmtp.Command, error) {
	if len(f.in) == 0 {
		return zmtp.Command{}, fmt.Errorf("zmtp: handshake: %w", zmtp.ErrTruncated)
	}
	body := bytes.Clone(f.in[0])
	f.in = f.in[1:]
	cmd, err := zmtp.ParseCommand(body)
	if err != nil {
		return zmtp.Command{}, err
	}
	if cmd.Is(zmtp.CommandError) {
		reason := ""
		if len(cmd.Data) > 0 {
			reason = string(cmd.Data[1:min(len(cmd.Data), 1+int(cmd.Data[0]))])
		}
		return zmtp.Command{}, &zmtp.PeerError{Reason: reason}
	}
	return cmd, nil
}

func (f *fakeHC) PeerGreeting() zmtp.Greeting {
	return zmtp.Greeting{Major: 3, Minor: 1, Mechanism: MechanismName}
}

// commandBody encodes a command body.
func commandBody(t testing.TB, cmd zmtp.Command) []byte {
	t.Helper()
	b, err := zmtp.AppendCommand(nil, cmd.Name, cmd.Data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// splitFrames parses a raw ZMTP stream (after the greeting) into frames.
func splitFrames(t testing.TB, b []byte) []zmtp.Frame {
	t.Helper()
	var out []zmtp.Frame
	for len(b) > 0 {
		f, n, err := zmtp.ParseFrame(b, -1)
		if err != nil {
			t.Fatalf("parsing frame at %d bytes before the end: %v", len(b), err)
		}
		out = append(out, f)
		b = b[n:]
	}
	return out
}

// tapConn wraps a net.Conn and lets a test see and change what is written.
type tapConn struct {
	net.Conn
	mu   sync.Mutex
	hook func(p []byte) []byte // nil: pass through
}

func (c *tapConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	hook := c.hook
	c.mu.Unlock()
	if hook == nil {
		return c.Conn.Write(p)
	}
	q := hook(bytes.Clone(p))
	if len(q) > 0 {
		if _, err := c.Conn.Write(q); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *tapConn) setHook(h func([]byte) []byte) {
	c.mu.Lock()
	c.hook = h
	c.mu.Unlock()
}

// recvTimeout runs c.Recv with a read deadline.
func recvTimeout(nc net.Conn, c *zmtp.Conn, d time.Duration) ([][]byte, error) {
	_ = nc.SetReadDeadline(time.Now().Add(d))
	defer nc.SetReadDeadline(time.Time{})
	return c.Recv()
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
