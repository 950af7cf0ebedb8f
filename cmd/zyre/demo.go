package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/gozyre/zyre"
)

// demoNames name the demo's nodes.
var demoNames = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}

// demoNode is one node of the demo and what it has seen so far (guarded
// by demo.mu).
type demoNode struct {
	name     string
	node     *zyre.Node
	entered  map[zyre.PeerID]bool
	joined   map[string]map[zyre.PeerID]bool // group -> peers seen joining
	shouts   map[string]int                  // group -> shouts received
	whispers int
	exited   map[zyre.PeerID]bool
	stopped  bool
}

// demo runs several nodes in one process and narrates what they see.
type demo struct {
	ctx   context.Context
	start time.Time
	outMu sync.Mutex
	out   io.Writer

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever a node saw something
	nodes   []*demoNode
	quiet   bool // stop narrating events (the final clean-up)
}

func runDemo(ctx context.Context, e *env, args []string) error {
	fs, c := newFlagSet(e, "demo", "",
		"Start several nodes in this process on loopback only and narrate, with the\n"+
			"milliseconds since start: discovery (ENTER), groups (JOIN), a shout, a whisper\n"+
			"and a node leaving (EXIT). Ends by itself after a few seconds. The beacon port\n"+
			"is random unless --port is given; --name N names the nodes N1, N2, ...",
		commonDefaults{iface: "127.0.0.1", port: 0, interval: 100 * time.Millisecond})
	count := fs.Int("nodes", 4, "number of nodes (2 to 8)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	if *count < 2 || *count > len(demoNames) {
		return usageErrorf("invalid --nodes %d: want 2 to %d", *count, len(demoNames))
	}
	if err := c.check(true); err != nil {
		return err
	}
	if c.port == 0 {
		c.port = 20000 + rand.IntN(25000)
	}
	d := &demo{ctx: ctx, start: time.Now(), out: e.stdout, changed: make(chan struct{})}
	var wg sync.WaitGroup
	defer func() {
		for _, dn := range d.nodes {
			dn.node.Close()
		}
		wg.Wait()
	}()

	where := c.iface
	if where == "" {
		where = "the default interface"
	}
	d.say("zyre demo: %d nodes in this process on %s, beacon port %d, a beacon every %v", *count, where, c.port, c.interval)
	log := c.logger(e.stderr)
	for i := range *count {
		cfg := c.config(log)
		cfg.Name = demoNames[i]
		if c.name != "" {
			cfg.Name = fmt.Sprintf("%s%d", c.name, i+1)
		}
		cfg.Headers = maps.Clone(c.headers)
		cfg.Headers["X-DEMO-ROLE"] = "node " + fmt.Sprint(i+1)
		n, err := startNode(ctx, cfg)
		if err != nil {
			return err
		}
		dn := &demoNode{
			name: n.Name(), node: n,
			entered: map[zyre.PeerID]bool{}, joined: map[string]map[zyre.PeerID]bool{},
			shouts: map[string]int{}, exited: map[zyre.PeerID]bool{},
		}
		d.mu.Lock()
		d.nodes = append(d.nodes, dn)
		d.mu.Unlock()
		wg.Add(1)
		go func() { defer wg.Done(); d.watch(dn) }()
		d.say("%-6s started: UUID %s, mailbox %s", dn.name, n.ID(), n.Endpoint())
	}
	nodes := d.nodes
	others := func(dn *demoNode) []*demoNode {
		var out []*demoNode
		for _, o := range nodes {
			if o != dn {
				out = append(out, o)
			}
		}
		return out
	}

	// 1. Discovery.
	d.say("discovery: each node broadcasts UDP beacons; on a new one it connects and says HELLO")
	if err := d.waitFor("every node to see the others ENTER", func() bool {
		for _, dn := range nodes {
			for _, o := range others(dn) {
				if !dn.entered[o.node.ID()] {
					return false
				}
			}
		}
		return true
	}); err != nil {
		return err
	}
	d.say("discovery complete: every node knows the other %d", len(nodes)-1)
	d.pause()

	// 2. Groups: all but the last node join CHAT, the last one OPS.
	chatters, outsider := nodes, (*demoNode)(nil)
	if len(nodes) >= 3 {
		chatters, outsider = nodes[:len(nodes)-1], nodes[len(nodes)-1]
	}
	d.say("%s join CHAT", names(chatters))
	for _, dn := range chatters {
		if err := dn.node.Join(ctx, "CHAT"); err != nil {
			return failf("%s: join: %v", dn.name, err)
		}
	}
	if outsider != nil {
		d.say("%s joins OPS", outsider.name)
		if err := outsider.node.Join(ctx, "OPS"); err != nil {
			return failf("%s: join: %v", outsider.name, err)
		}
	}
	if err := d.waitFor("every node to see the JOINs", func() bool {
		for _, dn := range nodes {
			for _, o := range others(dn) {
				g := "CHAT"
				if o == outsider {
					g = "OPS"
				}
				if !dn.joined[g][o.node.ID()] {
					return false
				}
			}
		}
		return true
	}); err != nil {
		return err
	}
	d.pause()

	// 3. A shout to CHAT.
	shouter := chatters[0]
	text := "Hello, CHAT!"
	d.say("%s shouts %q to CHAT", shouter.name, text)
	if err := shouter.node.Shout(ctx, "CHAT", []byte(text)); err != nil {
		return failf("%s: shout: %v", shouter.name, err)
	}
	if err := d.waitFor("the CHAT members to hear the shout", func() bool {
		for _, dn := range chatters[1:] {
			if dn.shouts["CHAT"] == 0 {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	if outsider != nil {
		d.say("(%s is not in CHAT, so it hears nothing)", outsider.name)
	}
	d.pause()

	// 4. A whisper to one node.
	from, to := chatters[1], nodes[len(nodes)-1]
	if to == from {
		to = chatters[0]
	}
	secret := "psst, " + to.name + ": this is just for you"
	d.say("%s whispers %q to %s", from.name, secret, to.name)
	if err := from.node.Whisper(ctx, to.node.ID(), []byte(secret)); err != nil {
		return failf("%s: whisper: %v", from.name, err)
	}
	if err := d.waitFor(to.name+" to hear the whisper", func() bool { return to.whispers > 0 }); err != nil {
		return err
	}
	d.pause()

	// 5. One node leaves politely.
	leaver := nodes[len(nodes)-1]
	d.say("%s leaves: Shutdown sends a port-0 beacon and GOODBYE to every peer", leaver.name)
	shutdown(leaver.node)
	if err := d.waitFor("the others to see "+leaver.name+" EXIT", func() bool {
		for _, o := range others(leaver) {
			if !o.exited[leaver.node.ID()] {
				return false
			}
		}
		return leaver.stopped
	}); err != nil {
		return err
	}
	d.pause()

	// The end.
	d.mu.Lock()
	d.quiet = true
	d.mu.Unlock()
	d.say("shutting down the other %d nodes", len(nodes)-1)
	var sw sync.WaitGroup
	for _, dn := range others(leaver) {
		sw.Add(1)
		go func() { defer sw.Done(); shutdown(dn.node) }()
	}
	sw.Wait()
	st := nodes[0].node.Stats()
	d.say("%s's counters: %d beacons sent, %d received; %d messages sent, %d received",
		nodes[0].name, st.BeaconsSent, st.BeaconsReceived, st.MessagesSent, st.MessagesReceived)
	d.say("demo done: discovery, groups, a shout, a whisper and a polite exit")
	return nil
}

// watch narrates one node's events and records them.
func (d *demo) watch(dn *demoNode) {
	for ev := range dn.node.Events(context.Background()) {
		var msg string
		d.mu.Lock()
		switch ev := ev.(type) {
		case zyre.EnterEvent:
			dn.entered[ev.Peer] = true
			msg = fmt.Sprintf("sees %s ENTER from %s", printable([]byte(ev.Name)), ev.Endpoint)
		case zyre.JoinEvent:
			if dn.joined[ev.Group] == nil {
				dn.joined[ev.Group] = map[zyre.PeerID]bool{}
			}
			dn.joined[ev.Group][ev.Peer] = true
			msg = fmt.Sprintf("sees %s JOIN %s", printable([]byte(ev.Name)), printable([]byte(ev.Group)))
		case zyre.LeaveEvent:
			msg = fmt.Sprintf("sees %s LEAVE %s", printable([]byte(ev.Name)), printable([]byte(ev.Group)))
		case zyre.ShoutEvent:
			dn.shouts[ev.Group]++
			msg = fmt.Sprintf("hears %s SHOUT to %s: %q", printable([]byte(ev.Name)), printable([]byte(ev.Group)), messageText(ev.Frames))
		case zyre.WhisperEvent:
			dn.whispers++
			msg = fmt.Sprintf("hears %s WHISPER: %q", printable([]byte(ev.Name)), messageText(ev.Frames))
		case zyre.ExitEvent:
			dn.exited[ev.Peer] = true
			msg = fmt.Sprintf("sees %s EXIT (%s)", printable([]byte(ev.Name)), ev.Reason)
		case zyre.EvasiveEvent:
			msg = fmt.Sprintf("sees %s EVASIVE", printable([]byte(ev.Name)))
		case zyre.SilentEvent:
			msg = fmt.Sprintf("sees %s SILENT", printable([]byte(ev.Name)))
		case zyre.LeaderEvent:
			msg = fmt.Sprintf("sees %s LEADER of %s", printable([]byte(ev.Name)), printable([]byte(ev.Group)))
		case zyre.DroppedEvent:
			msg = fmt.Sprintf("DROPPED %d events (%s)", ev.Count, ev.Reason)
		case zyre.StopEvent:
			dn.stopped = true
			msg = "STOP (its last event)"
		}
		quiet := d.quiet
		close(d.changed)
		d.changed = make(chan struct{})
		d.mu.Unlock()
		if !quiet {
			d.say("%-6s %s", dn.name, msg)
		}
	}
}

// say prints one line of the story with the milliseconds since start.
func (d *demo) say(format string, args ...any) {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	fmt.Fprintf(d.out, "%6d ms  %s\n", time.Since(d.start).Milliseconds(), fmt.Sprintf(format, args...))
}

// pause lets the story breathe between acts.
func (d *demo) pause() {
	select {
	case <-d.ctx.Done():
	case <-time.After(200 * time.Millisecond):
	}
}

// demoStepTimeout bounds each act of the demo.
const demoStepTimeout = 10 * time.Second

// waitFor waits until cond (called with d.mu held) holds.
func (d *demo) waitFor(what string, cond func() bool) error {
	timeout := time.NewTimer(demoStepTimeout)
	defer timeout.Stop()
	for {
		d.mu.Lock()
		ok, ch := cond(), d.changed
		d.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-timeout.C:
			return failf("timed out after %v waiting for %s", demoStepTimeout, what)
		case <-d.ctx.Done():
			return failf("interrupted while waiting for %s", what)
		}
	}
}

func names(nodes []*demoNode) string {
	s := make([]string, len(nodes))
	for i, dn := range nodes {
		s[i] = dn.name
	}
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
