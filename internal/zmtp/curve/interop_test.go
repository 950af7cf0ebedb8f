package curve

// Live interop with libzmq's CURVE through Debian's python3-zmq, on
// 127.0.0.1 only. Skipped when python3-zmq (with CURVE) is missing, unless
// CI is set: then missing tools fail the test.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/pyzmq"
	"github.com/gozyre/zyre/internal/zmtp"
)

const python = pyzmq.Python

func requirePyZMQ(t *testing.T) {
	t.Helper()
	t.Logf("libzmq %s", pyzmq.Require(t, "curve"))
}

// pyProc is a running python script.
type pyProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *bytes.Buffer
}

func startPython(t *testing.T, script string, args ...string) *pyProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, python, append([]string{"-c", script}, args...)...)
	p := &pyProc{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.out = bufio.NewReader(stdout)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		cancel()
		if t.Failed() && p.stderr.Len() > 0 {
			t.Logf("python stderr:\n%s", p.stderr)
		}
	})
	return p
}

// line reads one line of the script's output.
func (p *pyProc) line(t *testing.T) string {
	t.Helper()
	s, err := p.out.ReadString('\n')
	if err != nil {
		t.Fatalf("reading python output: %v\nstderr:\n%s", err, p.stderr)
	}
	return strings.TrimSpace(s)
}

// pyRouter is a libzmq ROUTER CURVE server. It echoes each message back
// to its sender with the sender's routing id inserted as the first frame.
// With a certificate folder it runs a ZAP authenticator (pyzmq's
// ThreadAuthenticator) that allows only the public keys of the *.key
// files there.
const pyRouter = `
import sys, zmq
secret, public, n, certdir = sys.argv[1].encode(), sys.argv[2].encode(), int(sys.argv[3]), sys.argv[4]
ctx = zmq.Context()
auth = None
if certdir:
    from zmq.auth.thread import ThreadAuthenticator
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=certdir)
s = ctx.socket(zmq.ROUTER)
s.linger = 1000
s.curve_server = True
s.curve_secretkey = secret
s.curve_publickey = public
s.rcvtimeo = 30000
port = s.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
for i in range(n):
    msg = s.recv_multipart()
    s.send_multipart([msg[0], msg[0]] + msg[1:])
print("done", flush=True)
sys.stdin.read()
s.close()
if auth:
    auth.stop()
ctx.term()
`

// pyDealer is a libzmq DEALER CURVE client. It sends the messages
// described by argv[6] ("size,size;size" = two messages) with pattern
// content; with echo it expects them back, waits while libzmq heartbeats
// (boxed PINGs we must answer with boxed PONGs), and checks the link still
// works.
const pyDealer = `
import sys, time, zmq
port, spub, cpub, csec, ident, spec, echo = sys.argv[1:8]
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.linger = 10000
s.curve_serverkey = spub.encode()
s.curve_publickey = cpub.encode()
s.curve_secretkey = csec.encode()
s.routing_id = bytes.fromhex(ident)
s.rcvtimeo = 30000
if echo == "1":
    s.heartbeat_ivl = 50
    s.heartbeat_timeout = 1000
s.connect("tcp://127.0.0.1:" + port)
def pat(n, seed):
    base = bytes(((j * 7 + seed) & 255) for j in range(256))
    return (base * (n // 256 + 1))[:n]
msgs = [[pat(int(x), (i * 10 + k) & 255) for k, x in enumerate(m.split(","))] for i, m in enumerate(spec.split(";"))]
for m in msgs:
    s.send_multipart(m)
if echo == "1":
    for m in msgs:
        got = s.recv_multipart()
        if got != m:
            print("mismatch", [len(f) for f in got], [len(f) for f in m], flush=True)
            sys.exit(1)
    time.sleep(0.6)
    s.send_multipart([b"after", b"heartbeats"])
    if s.recv_multipart() != [b"after", b"heartbeats"]:
        print("mismatch after heartbeats", flush=True)
        sys.exit(1)
print("ok", flush=True)
s.close()
ctx.term()
`

// interopMessages are the messages exchanged in every direction: small,
// empty, 255/256-byte boundary, multipart, 4 MiB.
var interopSpec = "5;0;255;256;1,0,255,256,70000;4194304;4194304,4"

func specMessages(spec string) [][][]byte {
	var out [][][]byte
	for i, m := range strings.Split(spec, ";") {
		var msg [][]byte
		for k, x := range strings.Split(m, ",") {
			n, _ := strconv.Atoi(x)
			msg = append(msg, pattern(n, byte(i*10+k)))
		}
		out = append(out, msg)
	}
	return out
}

func sameMessage(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// dialCurve connects our DEALER with a CURVE client to addr.
func dialCurve(t *testing.T, addr string, client *Client, id []byte) (*zmtp.Conn, error) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := zmtp.Handshake(ctx, nc, zmtp.Config{SocketType: zmtp.SocketDealer, Identity: id, Mechanism: client,
		MaxMessageSize: 64 << 20})
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// TestInteropClientToLibzmqRouter: our CURVE client (DEALER) against a
// libzmq CURVE server (ROUTER), both directions of traffic.
func TestInteropClientToLibzmqRouter(t *testing.T) {
	requirePyZMQ(t)
	serverKey, clientKey := testKey(t, 11), testKey(t, 12)
	msgs := specMessages(interopSpec)
	py := startPython(t, pyRouter, serverKey.SecretText(), serverKey.PublicText(), strconv.Itoa(len(msgs)), "")
	port := py.line(t)
	id := dealerIdentity(7)
	c, err := dialCurve(t, "127.0.0.1:"+port, &Client{Key: clientKey, ServerKey: serverKey.Public}, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("libzmq server greeting: %+v", c.PeerGreeting())
	if k, ok := PeerKey(c.PeerMetadata()); !ok || k != serverKey.Public {
		t.Fatalf("PeerKey %x, %v", k, ok)
	}
	if c.PeerSocketType() != zmtp.SocketRouter {
		t.Fatalf("peer socket type %s", c.PeerSocketType())
	}
	errc := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			if err := c.Send(m); err != nil {
				errc <- err
				return
			}
		}
		errc <- c.Flush()
	}()
	for i, m := range msgs {
		got, err := c.Recv()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if len(got) == 0 || !bytes.Equal(got[0], id) {
			t.Fatalf("message %d: libzmq saw routing id %x, want %x", i, got[0], id)
		}
		if !sameMessage(got[1:], m) {
			t.Fatalf("message %d came back different", i)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if s := py.line(t); s != "done" {
		t.Fatalf("python: %s", s)
	}
}

// TestInteropLibzmqZAP: a libzmq CURVE server with a ZAP authenticator
// allows our client when our public certificate (saved by
// Certificate.SavePublic) is in its folder, and refuses it otherwise: we
// get ErrRejected with libzmq's status code.
func TestInteropLibzmqZAP(t *testing.T) {
	requirePyZMQ(t)
	serverKey, clientKey := testKey(t, 13), testKey(t, 14)
	allowDir, denyDir := t.TempDir(), t.TempDir()
	if err := NewCertificate(clientKey).SavePublic(filepath.Join(allowDir, "client.key")); err != nil {
		t.Fatal(err)
	}
	other := NewCertificate(testKey(t, 15))
	if err := other.SavePublic(filepath.Join(denyDir, "other.key")); err != nil {
		t.Fatal(err)
	}
	t.Run("allowed", func(t *testing.T) {
		py := startPython(t, pyRouter, serverKey.SecretText(), serverKey.PublicText(), "1", allowDir)
		port := py.line(t)
		c, err := dialCurve(t, "127.0.0.1:"+port, &Client{Key: clientKey, ServerKey: serverKey.Public}, dealerIdentity(8))
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = c.Send([][]byte{[]byte("hi")}); _ = c.Flush() }()
		got, err := c.Recv()
		if err != nil || string(got[1]) != "hi" {
			t.Fatalf("echo: %q, %v", got, err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		py := startPython(t, pyRouter, serverKey.SecretText(), serverKey.PublicText(), "0", denyDir)
		port := py.line(t)
		_, err := dialCurve(t, "127.0.0.1:"+port, &Client{Key: clientKey, ServerKey: serverKey.Public}, dealerIdentity(9))
		var pe *zmtp.PeerError
		if !errors.Is(err, ErrRejected) || !errors.As(err, &pe) || pe.Reason != "400" {
			t.Fatalf("err = %v, want ErrRejected with status 400", err)
		}
		t.Logf("refused: %v", err)
	})
	t.Run("wrong server key", func(t *testing.T) {
		py := startPython(t, pyRouter, serverKey.SecretText(), serverKey.PublicText(), "0", "")
		port := py.line(t)
		_, err := dialCurve(t, "127.0.0.1:"+port, &Client{Key: clientKey, ServerKey: testKey(t, 16).Public}, dealerIdentity(9))
		if !errors.Is(err, ErrServerGone) {
			t.Fatalf("err = %v, want ErrServerGone", err)
		}
		t.Logf("wrong server key: %v", err)
	})
}

// TestInteropLibzmqDealerToRouter: a libzmq CURVE DEALER to our
// zmtp.Router with our Server; Authorize sees the libzmq client's key.
func TestInteropLibzmqDealerToRouter(t *testing.T) {
	requirePyZMQ(t)
	serverKey, clientKey := testKey(t, 21), testKey(t, 22)
	var mu sync.Mutex
	var seen [][KeySize]byte
	var seenID []byte
	server := &Server{Key: serverKey, Authorize: func(k [KeySize]byte, md zmtp.Metadata) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, k)
		seenID, _ = md.Get(zmtp.PropIdentity)
		if k != clientKey.Public {
			return errors.New("unknown client")
		}
		return nil
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r, err := zmtp.NewRouter(ln, zmtp.RouterConfig{Conn: zmtp.Config{Mechanism: server, MaxMessageSize: 64 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	id := dealerIdentity(3)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	py := startPython(t, pyDealer, port, serverKey.PublicText(), clientKey.PublicText(), clientKey.SecretText(), hex.EncodeToString(id), interopSpec, "0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, want := range specMessages(interopSpec) {
		m, err := r.Recv(ctx)
		if err != nil {
			t.Fatalf("message %d: %v\n%s", i, err, py.stderr)
		}
		if !bytes.Equal(m.Identity, id) {
			t.Fatalf("identity %x, want %x", m.Identity, id)
		}
		if !sameMessage(m.Frames, want) {
			t.Fatalf("message %d differs", i)
		}
	}
	if s := py.line(t); s != "ok" {
		t.Fatalf("python: %s", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != clientKey.Public || !bytes.Equal(seenID, id) {
		t.Fatalf("Authorize saw keys %x, identity %x", seen, seenID)
	}
}

// pyDealerRefused connects a libzmq CURVE DEALER and reports the first
// handshake failure its monitor sees.
const pyDealerRefused = `
import sys, zmq
from zmq.utils.monitor import recv_monitor_message
port, spub, cpub, csec = sys.argv[1:5]
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.linger = 0
s.curve_serverkey = spub.encode()
s.curve_publickey = cpub.encode()
s.curve_secretkey = csec.encode()
mon = s.get_monitor_socket()
mon.rcvtimeo = 10000
s.connect("tcp://127.0.0.1:" + port)
while True:
    ev = recv_monitor_message(mon)
    if ev["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        print("auth", ev["value"], flush=True)
        break
    if ev["event"] in (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_SUCCEEDED):
        print("event", ev["event"], ev["value"], flush=True)
        break
s.disable_monitor()
mon.close()
s.close()
ctx.term()
`

// TestInteropLibzmqDealerRefused: our Server refuses a libzmq client
// through Authorize; libzmq reports it as an authentication failure with
// status 400, and Handshake fails with *AuthError.
func TestInteropLibzmqDealerRefused(t *testing.T) {
	requirePyZMQ(t)
	serverKey, clientKey := testKey(t, 23), testKey(t, 24)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	py := startPython(t, pyDealerRefused, port, serverKey.PublicText(), clientKey.PublicText(), clientKey.SecretText())
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	server := &Server{Key: serverKey, Authorize: func([KeySize]byte, zmtp.Metadata) error { return errors.New("not on the list") }}
	_, err = zmtp.Handshake(ctx, nc, zmtp.Config{SocketType: zmtp.SocketRouter, Mechanism: server})
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Key != clientKey.Public {
		t.Fatalf("err = %v, want *AuthError for the client key", err)
	}
	t.Logf("refused in %v: %v", time.Since(start), err)
	if s := py.line(t); s != "auth 400" {
		t.Fatalf("libzmq reported %q, want an authentication failure with status 400", s)
	}
}

// TestInteropLibzmqDealerEcho: a libzmq CURVE DEALER to our server Conn,
// which echoes every message: our MESSAGE boxes from the server side, and
// libzmq's heartbeats (boxed PING, our boxed PONG) while it waits.
func TestInteropLibzmqDealerEcho(t *testing.T) {
	requirePyZMQ(t)
	serverKey, clientKey := testKey(t, 31), testKey(t, 32)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	id := dealerIdentity(4)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	py := startPython(t, pyDealer, port, serverKey.PublicText(), clientKey.PublicText(), clientKey.SecretText(), hex.EncodeToString(id), interopSpec, "1")
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := zmtp.Handshake(ctx, nc, zmtp.Config{SocketType: zmtp.SocketRouter, Mechanism: &Server{Key: serverKey}, MaxMessageSize: 64 << 20})
	if err != nil {
		t.Fatalf("handshake: %v\n%s", err, py.stderr)
	}
	defer c.Close()
	t.Logf("libzmq client greeting: %+v", c.PeerGreeting())
	if k, ok := PeerKey(c.PeerMetadata()); !ok || k != clientKey.Public {
		t.Fatalf("PeerKey %x, %v", k, ok)
	}
	if !bytes.Equal(c.PeerIdentity(), id) {
		t.Fatalf("identity %x", c.PeerIdentity())
	}
	done := make(chan error, 1)
	go func() {
		for {
			msg, err := c.Recv()
			if err != nil {
				done <- err
				return
			}
			if err := c.Send(msg); err != nil {
				done <- err
				return
			}
			if err := c.Flush(); err != nil {
				done <- err
				return
			}
		}
	}()
	if s := py.line(t); s != "ok" {
		t.Fatalf("python: %s\n%s", s, py.stderr)
	}
	if n := c.Stats().PingsReceived; n == 0 {
		t.Errorf("no PING from libzmq was decoded")
	} else {
		t.Logf("answered %d boxed PINGs from libzmq", n)
	}
	err = <-done // python closed the connection
	if !errors.Is(err, io.EOF) {
		t.Logf("connection ended with %v", err)
	}
}

// TestInteropCertificates: pyzmq's certificates load here, and ours load
// in pyzmq.
func TestInteropCertificates(t *testing.T) {
	requirePyZMQ(t)
	dir := t.TempDir()
	out, err := exec.Command(python, "-c", `
import sys, zmq.auth
pub, sec = zmq.auth.create_certificates(sys.argv[1], "server", metadata={"name": "py"})
print(zmq.auth.load_certificate(sec)[0].decode(), zmq.auth.load_certificate(sec)[1].decode())
`, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	fields := strings.Fields(string(out))
	c, err := LoadCertificate(filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Key.PublicText() != fields[0] || c.Key.SecretText() != fields[1] || c.Metadata["name"] != "py" {
		t.Fatalf("loaded %v %v, pyzmq says %v", c.Key, c.Metadata, fields)
	}

	ours := NewCertificate(testKey(t, 41))
	ours.Metadata = map[string]string{"name": "go"}
	path := filepath.Join(dir, "go.key")
	if err := ours.Save(path); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(python, "-c", `
import sys, zmq.auth
p, s = zmq.auth.load_certificate(sys.argv[1])
p2, s2 = zmq.auth.load_certificate(sys.argv[1] + "_secret")
print(p.decode(), s is None, p2.decode(), s2.decode())
`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := fmt.Sprintf("%s True %s %s", ours.Key.PublicText(), ours.Key.PublicText(), ours.Key.SecretText())
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("pyzmq loaded %q, want %q", got, want)
	}
}
