package main

import (
	"encoding/json"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Two "zyre events --json" processes find each other, join a group, shout,
// whisper (text and binary), answer PEERS, report a bad command and quit
// (QUIT on one, EOF on the other), both ending with STOP and exit code 0.
func TestEventsJSON(t *testing.T) {
	t.Parallel()
	port := testPort()
	an, bn := uniq("a"), uniq("b")
	a := startProc(t, "a", cmdArgs(port, "events", "--json", "--name", an, "--header", "X-TEST=alpha")...)
	b := startProc(t, "b", cmdArgs(port, "events", "--json", "--name", bn)...)

	ra := a.expectEvent("READY", func(ev event) bool { return ev.Type == "READY" })
	rb := b.expectEvent("READY", func(ev event) bool { return ev.Type == "READY" })
	for _, r := range []event{ra, rb} {
		if len(r.Peer) != 32 || strings.ToUpper(r.Peer) != r.Peer || !strings.HasPrefix(r.Endpoint, "tcp://127.0.0.1:") {
			t.Fatalf("READY = %+v: want a 32 upper-case hex peer and a loopback endpoint", r)
		}
	}
	if ra.Name != an || rb.Name != bn {
		t.Fatalf("READY names %q %q, want %q %q", ra.Name, rb.Name, an, bn)
	}

	enter := b.expectEvent("ENTER of a", func(ev event) bool { return ev.Type == "ENTER" && ev.Peer == ra.Peer })
	if enter.Name != an || enter.Endpoint != ra.Endpoint || enter.Headers["X-TEST"] != "alpha" {
		t.Errorf("ENTER of a = %+v, want name %s, endpoint %s, header X-TEST=alpha", enter, an, ra.Endpoint)
	}
	enter = a.expectEvent("ENTER of b", func(ev event) bool { return ev.Type == "ENTER" && ev.Peer == rb.Peer })
	if enter.Headers == nil {
		t.Errorf("ENTER of b has no headers object: %+v", enter)
	}

	a.send("JOIN G")
	b.send("JOIN G")
	a.expectEvent("JOIN of b", func(ev event) bool { return ev.Type == "JOIN" && ev.Peer == rb.Peer && ev.Group == "G" })
	b.expectEvent("JOIN of a", func(ev event) bool { return ev.Type == "JOIN" && ev.Peer == ra.Peer && ev.Group == "G" })

	a.send("SHOUT G hello  world")
	sh := b.expectEvent("SHOUT from a", func(ev event) bool { return ev.Type == "SHOUT" && ev.Peer == ra.Peer })
	if sh.Group != "G" || sh.Name != an || !slices.Equal(sh.Frames, []string{"hello  world"}) {
		t.Errorf("SHOUT = %+v, want group G, frames [hello  world]", sh)
	}
	a.send("SHOUT G base64:AP8=") // not UTF-8: comes back as base64
	sh = b.expectEvent("binary SHOUT", func(ev event) bool { return ev.Type == "SHOUT" && ev.Peer == ra.Peer })
	if !slices.Equal(sh.Frames, []string{"base64:AP8="}) {
		t.Errorf("binary SHOUT frames = %q, want [base64:AP8=]", sh.Frames)
	}

	b.send("WHISPER " + ra.Peer + " psst")
	w := a.expectEvent("WHISPER from b", func(ev event) bool { return ev.Type == "WHISPER" && ev.Peer == rb.Peer })
	if w.Name != bn || !slices.Equal(w.Frames, []string{"psst"}) {
		t.Errorf("WHISPER = %+v, want frames [psst]", w)
	}

	a.send("BOGUS command")
	if e := a.expectEvent("ERROR", func(ev event) bool { return ev.Type == "ERROR" }); e.Error == "" {
		t.Errorf("ERROR line without error text: %+v", e)
	}
	a.send("WHISPER 00000000000000000000000000000000 nobody")
	a.expectEvent("ERROR for an unknown peer", func(ev event) bool { return ev.Type == "ERROR" })
	a.send("PEERS") // the node goes on after errors
	peers := a.expectEvent("PEERS", func(ev event) bool { return ev.Type == "PEERS" })
	i := slices.IndexFunc(peers.Peers, func(p peerJSON) bool { return p.Peer == rb.Peer })
	if i < 0 || peers.Peers[i].Name != bn || !slices.Contains(peers.Peers[i].Groups, "G") || peers.Peers[i].Endpoint != rb.Endpoint {
		t.Errorf("PEERS = %+v, want b (%s) in group G", peers.Peers, rb.Peer)
	}
	a.send("STATS")
	st := a.expectEvent("STATS", func(ev event) bool { return ev.Type == "STATS" })
	if st.Stats == nil || st.Stats.BeaconsSent == 0 || st.Stats.MessagesReceived == 0 || st.Stats.MessagesSent == 0 {
		t.Errorf("STATS = %+v, want beacons and messages counted", st.Stats)
	}

	a.send("QUIT")
	a.expectEvent("STOP", func(ev event) bool { return ev.Type == "STOP" })
	if code := a.exitCode(); code != 0 {
		t.Errorf("a exit code %d after QUIT\n%s", code, a.dump())
	}
	b.expectEvent("EXIT of a", func(ev event) bool { return ev.Type == "EXIT" && ev.Peer == ra.Peer })
	b.stdin.Close() // EOF quits politely too
	b.expectEvent("STOP", func(ev event) bool { return ev.Type == "STOP" })
	if code := b.exitCode(); code != 0 {
		t.Errorf("b exit code %d after EOF\n%s", code, b.dump())
	}
}

// "zyre cat G" pipes lines across: one process reads them from a pipe that
// is closed at once (so it must wait for a peer), the other prints them.
func TestCatPipe(t *testing.T) {
	t.Parallel()
	port := testPort()
	group := uniq("G")
	recv := startProc(t, "receiver", cmdArgs(port, "cat", group, "-v")...)
	send := startProc(t, "sender", cmdArgs(port, "cat", group, "--wait", "10s", "-v")...)
	want := []string{"first line", "second line", "", "fourth line with  spaces"}
	for _, l := range want {
		send.send(l)
	}
	send.stdin.Close()
	for i, l := range want {
		got := recv.expect("line "+l, func(string) bool { return true })
		if got != l {
			t.Fatalf("receiver line %d = %q, want %q\n%s", i, got, l, recv.dump())
		}
	}
	if code := send.exitCode(); code != 0 {
		t.Errorf("sender exit code %d\n%s", code, send.dump())
	}
	recv.stdin.Close()
	if code := recv.exitCode(); code != 0 {
		t.Errorf("receiver exit code %d\n%s", code, recv.dump())
	}
}

// "zyre peers --json" lists a running "zyre events" node with its name,
// endpoint, groups and headers.
func TestPeersJSON(t *testing.T) {
	t.Parallel()
	port := testPort()
	name := uniq("ev")
	ev := startProc(t, "events", cmdArgs(port, "events", "--json", "--name", name, "--group", "PG", "--header", "ROLE=test")...)
	ready := ev.expectEvent("READY", func(e event) bool { return e.Type == "READY" })

	code, out, errOut := runZyre(t, cmdArgs(port, "peers", "--json", "--wait", "1s")...)
	if code != 0 {
		t.Fatalf("peers exit code %d, stderr:\n%s", code, errOut)
	}
	var peers []peerJSON
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		t.Fatalf("peers --json output %q: %v", out, err)
	}
	i := slices.IndexFunc(peers, func(p peerJSON) bool { return p.Peer == ready.Peer })
	if i < 0 {
		t.Fatalf("peers --json = %s, want %s (%s)", out, ready.Peer, name)
	}
	p := peers[i]
	if p.Name != name || p.Endpoint != ready.Endpoint || !slices.Equal(p.Groups, []string{"PG"}) || p.Headers["ROLE"] != "test" {
		t.Errorf("peer = %+v, want name %s, endpoint %s, groups [PG], header ROLE=test", p, name, ready.Endpoint)
	}

	// The table form names the same peer.
	code, out, _ = runZyre(t, cmdArgs(port, "peers", "--wait", "1s")...)
	if code != 0 || !strings.Contains(out, ready.Peer) || !strings.Contains(out, "ROLE=test") {
		t.Errorf("peers (table) exit %d, output:\n%s", code, out)
	}
	ev.stdin.Close()
	ev.expectEvent("STOP", func(e event) bool { return e.Type == "STOP" })
}

// "zyre demo" tells its story and exits 0 by itself.
func TestDemo(t *testing.T) {
	t.Parallel()
	start := time.Now()
	code, out, errOut := runZyre(t, "demo")
	if code != 0 {
		t.Fatalf("demo exit code %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"4 nodes in this process on 127.0.0.1",
		"alice  sees bob ENTER from tcp://127.0.0.1:",
		"discovery complete",
		"bob    sees alice JOIN CHAT",
		"alice shouts",
		`carol  hears alice SHOUT to CHAT: "Hello, CHAT!"`,
		"dave   hears bob WHISPER",
		"alice  sees dave EXIT",
		"dave   STOP",
		"demo done",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(out, "dave   hears alice SHOUT") {
		t.Errorf("dave is not in CHAT but heard the shout")
	}
	// Lines start with milliseconds since start.
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) < 3 || f[1] != "ms" {
			t.Errorf("demo line without timing: %q", l)
		}
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", out)
	}
	t.Logf("demo took %v", time.Since(start).Round(time.Millisecond))
}

// Bad flags and values: one line on stderr, exit code 2.
func TestBadCommandLine(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{},
		{"nosuchcommand"},
		{"events", "--bogus"},
		{"events", "--port", "70000"},
		{"events", "--port", "x"},
		{"events", "--interval", "-1s"},
		{"events", "--expired", "1s", "--evasive", "2s"},
		{"events", "--header", "novalue"},
		{"events", "extra-argument"},
		{"cat"},
		{"cat", "a", "b"},
		{"peers", "--wait", "soon"},
		{"ping", "--count", "-1"},
		{"demo", "--nodes", "1"},
		{"chat", "--group", ""},
		{"events", "--no-beacon"},
		{"events", "--allow", "keys.txt"},
		{"events", "--cert", "/nonexistent/zyre.cert"},
		{"events", "--iface", "127.0.0.1", "--gossip-connect", "tcp://nohost:5670"},
		{"events", "--iface", "127.0.0.1", "--advertise", "tcp://0.0.0.0:5670"},
		{"gossip"},
		{"gossip", "--bind", "tcp://nohost:1"},
		{"gossip", "--bind", "tcp://127.0.0.1:0", "--status", "-1s"},
		{"keygen", "extra"},
	} {
		code, out, errOut := runZyre(t, args...)
		lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
		if code != 2 || len(lines) != 1 || lines[0] == "" || out != "" {
			t.Errorf("zyre %s: exit %d, stdout %q, stderr %q; want exit 2 and one line on stderr",
				strings.Join(args, " "), code, out, errOut)
		}
	}
	// -h is not an error.
	code, out, _ := runZyre(t, "cat", "-h")
	if code != 0 || !strings.Contains(out, "usage: zyre cat") || !strings.Contains(out, "-wait") {
		t.Errorf("zyre cat -h: exit %d, output:\n%s", code, out)
	}
	code, out, _ = runZyre(t, "help")
	if code != 0 || !strings.Contains(out, "events") {
		t.Errorf("zyre help: exit %d, output:\n%s", code, out)
	}
}

// A network error at start (no such interface): a clear message, exit 1.
func TestNoSuchInterface(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"events", "cat"} {
		args := []string{cmd, "--iface", "nosuchif0", "--port", "41999"}
		if cmd == "cat" {
			args = append(args, "G")
		}
		code, _, errOut := runZyre(t, args...)
		if code != 1 || !strings.Contains(errOut, "nosuchif0") || !strings.Contains(errOut, "not found") ||
			strings.Count(strings.TrimRight(errOut, "\n"), "\n") != 0 {
			t.Errorf("zyre %s: exit %d, stderr %q; want exit 1 and one line naming nosuchif0", strings.Join(args, " "), code, errOut)
		}
	}
}

// Two pingers answer each other and print round-trip times.
func TestPing(t *testing.T) {
	t.Parallel()
	port := testPort()
	args := slices.Clip(cmdArgs(port, "ping", "--count", "2", "--every", "100ms"))
	p1 := startProc(t, "p1", append(args, "--name", uniq("p1"))...)
	p2 := startProc(t, "p2", append(args, "--name", uniq("p2"))...)
	for _, p := range []*proc{p1, p2} {
		p.expect("a PONG with a time", func(l string) bool {
			return strings.HasPrefix(l, "PONG from ") && strings.Contains(l, " time=")
		})
		p.expect("the summary", func(l string) bool { return strings.HasPrefix(l, "--- ") && strings.Contains(l, "2 sent") })
		if code := p.exitCode(); code != 0 {
			t.Errorf("%s exit code %d\n%s", p.name, code, p.dump())
		}
	}
}

// "zyre time" shouts RFC 3339 times to group "time".
func TestTime(t *testing.T) {
	t.Parallel()
	port := testPort()
	ev := startProc(t, "events", cmdArgs(port, "events", "--json", "--group", "time")...)
	ev.expectEvent("READY", func(e event) bool { return e.Type == "READY" })
	tm := startProc(t, "time", cmdArgs(port, "time", "--every", "100ms", "--count", "10")...)
	sh := ev.expectEvent("a time SHOUT", func(e event) bool { return e.Type == "SHOUT" && e.Group == "time" })
	if len(sh.Frames) != 1 {
		t.Fatalf("SHOUT frames = %q, want one", sh.Frames)
	}
	if _, err := time.Parse(time.RFC3339, sh.Frames[0]); err != nil {
		t.Errorf("time frame %q: %v", sh.Frames[0], err)
	}
	if code := tm.exitCode(); code != 0 {
		t.Errorf("time exit code %d\n%s", code, tm.dump())
	}
	ev.stdin.Close()
	ev.expectEvent("STOP", func(e event) bool { return e.Type == "STOP" })
}

// SIGINT and SIGTERM leave politely: the peer sees EXIT at once, the
// process prints STOP and exits 0.
func TestSignal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT/SIGTERM to send on Windows")
	}
	t.Parallel()
	port := testPort()
	watcher := startProc(t, "watcher", cmdArgs(port, "events", "--json")...)
	watcher.expectEvent("READY", func(e event) bool { return e.Type == "READY" })
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		p := startProc(t, sig.String(), cmdArgs(port, "events", "--json")...)
		r := p.expectEvent("READY", func(e event) bool { return e.Type == "READY" })
		watcher.expectEvent("ENTER", func(e event) bool { return e.Type == "ENTER" && e.Peer == r.Peer })
		if err := p.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		p.expectEvent("STOP", func(e event) bool { return e.Type == "STOP" })
		if code := p.exitCode(); code != 0 {
			t.Errorf("exit code %d after %v\n%s", code, sig, p.dump())
		}
		watcher.expectEvent("EXIT", func(e event) bool { return e.Type == "EXIT" && e.Peer == r.Peer })
	}
	watcher.stdin.Close()
	watcher.expectEvent("STOP", func(e event) bool { return e.Type == "STOP" })
}

// countEvents counts the JSON event lines of type typ (and peer, if set)
// that p printed so far.
func countEvents(p *proc, typ, peer string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.seen {
		var ev event
		if json.Unmarshal([]byte(l), &ev) == nil && ev.Type == typ && (peer == "" || ev.Peer == peer) {
			n++
		}
	}
	return n
}
