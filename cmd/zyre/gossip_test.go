package main

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gozyre/zyre"
)

// "zyre keygen --out FILE" writes a certificate pair that LoadCertificate
// reads back, prints the public key, and refuses to overwrite without
// --force; without --out it prints both keys.
func TestKeygen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert := filepath.Join(dir, "node.cert")
	code, out, errOut := runZyre(t, "keygen", "--out", cert)
	if code != 0 {
		t.Fatalf("keygen exit %d: %s", code, errOut)
	}
	pub := strings.TrimSpace(out)
	kp, err := zyre.LoadCertificate(cert)
	if err != nil {
		t.Fatal(err)
	}
	if kp.Public.String() != pub || kp.Secret == ([32]byte{}) {
		t.Errorf("keygen printed %q; certificate holds %v (secret set: %v)", pub, kp, kp.Secret != [32]byte{})
	}
	if _, err := zyre.ParseKeyPair(kp.Public.String(), zyre.PublicKey(kp.Secret).String()); err != nil {
		t.Errorf("saved keys do not belong together: %v", err)
	}
	if runtime.GOOS != "windows" {
		if st, err := os.Stat(cert + "_secret"); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("secret file: %v, mode %v; want 0600", err, st.Mode().Perm())
		}
	}
	if code, _, errOut := runZyre(t, "keygen", "--out", cert); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("keygen over an existing file: exit %d, %q; want exit 1", code, errOut)
	}
	if code, out, _ := runZyre(t, "keygen", "--out", cert, "--force"); code != 0 || strings.TrimSpace(out) == pub {
		t.Errorf("keygen --force: exit %d, key %q (old %q)", code, out, pub)
	}
	code, out, _ = runZyre(t, "keygen")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "public ") || !strings.HasPrefix(lines[1], "secret ") {
		t.Fatalf("keygen: exit %d, output %q", code, out)
	}
	if _, err := zyre.ParseKeyPair(strings.TrimPrefix(lines[0], "public "), strings.TrimPrefix(lines[1], "secret ")); err != nil {
		t.Errorf("printed keys: %v", err)
	}
}

// writeCert makes a certificate with "zyre keygen" and returns its file
// and public key.
func writeCert(t *testing.T, dir, name string) (file, pub string) {
	t.Helper()
	file = filepath.Join(dir, name+".cert")
	code, out, errOut := runZyre(t, "keygen", "--out", file)
	if code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, errOut)
	}
	return file, strings.TrimSpace(out)
}

// Two CURVE nodes (--cert) that allow each other (--allow) meet and talk;
// a third CURVE node with a key nobody allowed is never let in.
func TestCurveEvents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certA, pubA := writeCert(t, dir, "a")
	certB, pubB := writeCert(t, dir, "b")
	certX, _ := writeCert(t, dir, "intruder")
	allowA := filepath.Join(dir, "allow-a.txt")
	if err := os.WriteFile(allowA, []byte("# peers of a\n"+pubB+"   # b\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// b's allow list is a directory of public certificates, czmq style.
	allowB := filepath.Join(dir, "certs-b")
	if err := os.Mkdir(allowB, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(certA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(allowB, "a.cert"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	port := testPort()
	a := startProc(t, "a", cmdArgs(port, "events", "--json", "--cert", certA, "--allow", allowA)...)
	b := startProc(t, "b", cmdArgs(port, "events", "--json", "--cert", certB, "--allow", allowB)...)
	ra := a.expectEvent("READY", func(ev event) bool { return ev.Type == "READY" })
	rb := b.expectEvent("READY", func(ev event) bool { return ev.Type == "READY" })
	ea := b.expectEvent("ENTER of a", func(ev event) bool { return ev.Type == "ENTER" && ev.Peer == ra.Peer })
	if ea.Headers["X-PUBLICKEY"] != pubA {
		t.Errorf("ENTER of a: X-PUBLICKEY %q, want %q", ea.Headers["X-PUBLICKEY"], pubA)
	}
	eb := a.expectEvent("ENTER of b", func(ev event) bool { return ev.Type == "ENTER" && ev.Peer == rb.Peer })
	if eb.Headers["X-PUBLICKEY"] != pubB {
		t.Errorf("ENTER of b: X-PUBLICKEY %q, want %q", eb.Headers["X-PUBLICKEY"], pubB)
	}
	a.send("WHISPER " + rb.Peer + " encrypted hello")
	w := b.expectEvent("WHISPER", func(ev event) bool { return ev.Type == "WHISPER" && ev.Peer == ra.Peer })
	if !slices.Equal(w.Frames, []string{"encrypted hello"}) {
		t.Errorf("WHISPER frames %q", w.Frames)
	}

	x := startProc(t, "intruder", cmdArgs(port, "events", "--json", "--cert", certX)...)
	rx := x.expectEvent("READY", func(ev event) bool { return ev.Type == "READY" })
	time.Sleep(2 * time.Second) // twenty beacons: the intruder tries a and b
	a.send("PEERS")
	peers := a.expectEvent("PEERS", func(ev event) bool { return ev.Type == "PEERS" })
	for _, p := range peers.Peers {
		if p.Peer == rx.Peer {
			t.Errorf("a let the intruder in: %+v", peers.Peers)
		}
	}
	for _, p := range []*proc{a, b, x} {
		p.stdin.Close()
		p.expectEvent("STOP", func(ev event) bool { return ev.Type == "STOP" })
		if code := p.exitCode(); code != 0 {
			t.Errorf("%s exit code %d\n%s", p.name, code, p.dump())
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, l := range a.seen {
		if strings.Contains(l, rx.Peer) && strings.Contains(l, `"ENTER"`) {
			t.Errorf("a saw the intruder enter: %s", l)
		}
	}
}

// Two nodes without beacons find each other through a "zyre gossip"
// process, which reports them in its status line and exits 0 on SIGTERM.
func TestGossipEvents(t *testing.T) {
	t.Parallel()
	srv := startProc(t, "gossip", "gossip", "--bind", "tcp://127.0.0.1:0", "--status", "200ms")
	line := srv.expect("listening", func(l string) bool { return strings.HasPrefix(l, "listening tcp://127.0.0.1:") })
	ep := strings.TrimPrefix(line, "listening ")

	// Different beacon ports as well: only gossip can bring them together.
	a := startProc(t, "a", cmdArgs(testPort(), "events", "--json", "--no-beacon", "--gossip-connect", ep, "--name", "ga")...)
	// b also serves gossip itself; READY names where.
	b := startProc(t, "b", cmdArgs(testPort(), "events", "--json", "--gossip-connect", ep, "--name", "gb",
		"--gossip-bind", "127.0.0.1:0")...)
	ra := a.expectEvent("READY", func(ev event) bool { return ev.Type == "READY" })
	rb := b.expectEvent("READY", func(ev event) bool { return ev.Type == "READY" })
	if ra.Gossip != "" || !strings.HasPrefix(rb.Gossip, "tcp://127.0.0.1:") {
		t.Errorf("READY gossip endpoints %q and %q, want none and b's", ra.Gossip, rb.Gossip)
	}
	b.expectEvent("ENTER of a", func(ev event) bool { return ev.Type == "ENTER" && ev.Peer == ra.Peer && ev.Endpoint == ra.Endpoint })
	a.expectEvent("ENTER of b", func(ev event) bool { return ev.Type == "ENTER" && ev.Peer == rb.Peer })
	a.send("JOIN G")
	b.expectEvent("JOIN of a", func(ev event) bool { return ev.Type == "JOIN" && ev.Peer == ra.Peer })
	b.send("SHOUT G across")
	a.expectEvent("SHOUT", func(ev event) bool { return ev.Type == "SHOUT" && slices.Equal(ev.Frames, []string{"across"}) })

	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(srv.stderrText(), "tuples=2 clients=2") {
		if time.Now().After(deadline) {
			t.Fatalf("no status line with tuples=2 clients=2\n%s", srv.dump())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range []*proc{a, b} {
		p.stdin.Close()
		p.expectEvent("STOP", func(ev event) bool { return ev.Type == "STOP" })
		if code := p.exitCode(); code != 0 {
			t.Errorf("%s exit code %d\n%s", p.name, code, p.dump())
		}
	}
	if runtime.GOOS == "windows" {
		return
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := srv.exitCode(); code != 0 {
		t.Errorf("gossip exit code %d after SIGTERM\n%s", code, srv.dump())
	}
}

// "zyre gossip --cert" serves gossip over CURVE: it prints the
// endpoint|key that CURVE nodes pass to --gossip-connect, and they meet
// through it; a node without the server's key cannot use it.
func TestGossipCurveEvents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srvCert, _ := writeCert(t, dir, "server")
	srv := startProc(t, "gossip", "gossip", "--bind", "tcp://127.0.0.1:0", "--cert", srvCert, "--status", "200ms")
	line := srv.expect("listening", func(l string) bool { return strings.HasPrefix(l, "listening tcp://127.0.0.1:") })
	ep := strings.TrimPrefix(line, "listening ")
	plainEP, key, ok := strings.Cut(ep, "|")
	if !ok || len(key) != 40 {
		t.Fatalf("listening line %q: want ENDPOINT|KEY", line)
	}
	var procs []*proc
	var readies []event
	for _, name := range []string{"ca", "cb"} {
		cert, _ := writeCert(t, dir, name)
		p := startProc(t, name, cmdArgs(testPort(), "events", "--json", "--no-beacon", "--cert", cert, "--gossip-connect", ep, "--name", name)...)
		procs, readies = append(procs, p), append(readies, p.expectEvent("READY", func(ev event) bool { return ev.Type == "READY" }))
	}
	procs[0].expectEvent("ENTER of cb", func(ev event) bool { return ev.Type == "ENTER" && ev.Peer == readies[1].Peer })
	procs[1].expectEvent("ENTER of ca", func(ev event) bool { return ev.Type == "ENTER" && ev.Peer == readies[0].Peer })

	// Without the key, the link is plaintext, and the server refuses it.
	cert, _ := writeCert(t, dir, "nokey")
	x := startProc(t, "nokey", cmdArgs(testPort(), "events", "--json", "--no-beacon", "--cert", cert, "--gossip-connect", plainEP, "--name", "nokey")...)
	x.expectEvent("READY", func(ev event) bool { return ev.Type == "READY" })
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(srv.stderrText(), "tuples=2 clients=2") {
		if time.Now().After(deadline) {
			t.Fatalf("no status line with tuples=2 clients=2\n%s", srv.dump())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if n := countEvents(x, "ENTER", ""); n != 0 {
		t.Errorf("the node without the server key met %d peers\n%s", n, x.dump())
	}
	for _, p := range append(procs, x) {
		p.stdin.Close()
		p.expectEvent("STOP", func(ev event) bool { return ev.Type == "STOP" })
	}
}
