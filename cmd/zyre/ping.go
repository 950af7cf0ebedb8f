package main

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gozyre/zyre"
)

// pingTarget is what the pinger knows about one peer.
type pingTarget struct {
	id       zyre.PeerID
	name     string
	sent     int
	received int
	lost     int
	pending  map[uint64]time.Time // seq -> when sent
	next     time.Time            // when the next ping is due
	gone     bool
	min, max time.Duration
	sum      time.Duration
}

func runPing(ctx context.Context, e *env, args []string) error {
	fs, c := newFlagSet(e, "ping", "",
		"Find peers and whisper each a PING every second; a peer running 'zyre ping'\n"+
			"answers with PONG. Prints round-trip times; runs until interrupted or --count.", defaultCommon)
	every := fs.Duration("every", time.Second, "time between pings to one peer")
	count := fs.Int("count", 0, "stop after this many pings to each peer, once peers still pinging us are answered (0: until interrupted)")
	timeout := fs.Duration("timeout", 2*time.Second, "a ping without answer after this long is lost")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usageErrorf("unexpected argument %q", pos[0])
	case *every <= 0:
		return usageErrorf("invalid --every %v: must be positive", *every)
	case *timeout <= 0:
		return usageErrorf("invalid --timeout %v: must be positive", *timeout)
	case *count < 0:
		return usageErrorf("invalid --count %d: negative", *count)
	}
	if err := c.check(false); err != nil {
		return err
	}
	node, err := startNode(ctx, c.config(c.logger(e.stderr)))
	if err != nil {
		return err
	}
	defer node.Close()
	out := &lineWriter{w: bufio.NewWriter(e.stdout)}
	out.line(fmt.Sprintf("%s (%s) pinging every peer every %v", node.Name(), node.ID(), *every))

	evc := make(chan zyre.Event, 64)
	go func() {
		defer close(evc)
		for ev := range node.Events(context.Background()) {
			evc <- ev
		}
	}()

	targets := map[zyre.PeerID]*pingTarget{}
	var order []*pingTarget
	var seq uint64
	send := func(t *pingTarget, now time.Time) {
		seq++
		t.sent++
		t.pending[seq] = now
		t.next = now.Add(*every)
		if err := node.Whisper(ctx, t.id, []byte("PING"), []byte(strconv.FormatUint(seq, 10))); err != nil {
			delete(t.pending, seq)
			t.lost++
		}
	}
	// finished reports whether --count pings went to every peer and all
	// have been answered or lost.
	finished := func() bool {
		if *count == 0 || len(order) == 0 {
			return false
		}
		for _, t := range order {
			if !t.gone && (t.sent < *count || len(t.pending) > 0) {
				return false
			}
		}
		return true
	}
	// With --count, once our own pings are done we keep answering peers
	// that still ping us (they may have started later), until none has
	// for two of our periods, and for at most ten.
	var lastPing, doneAt time.Time
	done := func(now time.Time) bool {
		if !finished() {
			return false
		}
		if doneAt.IsZero() {
			doneAt = now
		}
		return now.Sub(lastPing) >= 2**every || now.Sub(doneAt) >= 10**every
	}
	tick := time.NewTicker(min(*every, 50*time.Millisecond))
	defer tick.Stop()

loop:
	for !done(time.Now()) {
		select {
		case <-ctx.Done():
			break loop
		case ev, ok := <-evc:
			if !ok {
				break loop
			}
			now := time.Now()
			switch ev := ev.(type) {
			case zyre.EnterEvent:
				t := &pingTarget{id: ev.Peer, name: printable([]byte(ev.Name)), pending: map[uint64]time.Time{}, next: now}
				if old := targets[ev.Peer]; old != nil {
					t = old
					t.gone = false
				} else {
					targets[ev.Peer] = t
					order = append(order, t)
				}
				out.line(fmt.Sprintf("%s (%s) entered at %s", t.name, ev.Peer, ev.Endpoint))
			case zyre.ExitEvent:
				if t := targets[ev.Peer]; t != nil {
					t.gone = true
					clear(t.pending) // unanswered because the peer left: not counted as lost
					out.line(fmt.Sprintf("%s (%s) left (%s)", t.name, ev.Peer, ev.Reason))
				}
			case zyre.WhisperEvent:
				if len(ev.Frames) == 0 {
					continue
				}
				switch string(ev.Frames[0]) {
				case "PING":
					reply := append([][]byte{[]byte("PONG")}, ev.Frames[1:]...)
					node.Whisper(ctx, ev.Peer, reply...)
					lastPing = now
				case "PONG":
					t := targets[ev.Peer]
					if t == nil || len(ev.Frames) < 2 {
						continue
					}
					n, err := strconv.ParseUint(string(ev.Frames[1]), 10, 64)
					sentAt, ok := t.pending[n]
					if err != nil || !ok {
						continue
					}
					delete(t.pending, n)
					rtt := now.Sub(sentAt)
					if t.received == 0 || rtt < t.min {
						t.min = rtt
					}
					t.max = max(t.max, rtt)
					t.sum += rtt
					t.received++
					out.line(fmt.Sprintf("PONG from %s (%s) seq=%d time=%.3f ms", t.name, t.id.Short(), n, ms(rtt)))
				}
			}
		case now := <-tick.C:
			for _, t := range order {
				for s, at := range t.pending {
					if now.Sub(at) > *timeout {
						delete(t.pending, s)
						t.lost++
						out.line(fmt.Sprintf("no answer from %s (%s) seq=%d within %v", t.name, t.id.Short(), s, *timeout))
					}
				}
				if !t.gone && (*count == 0 || t.sent < *count) && !now.Before(t.next) {
					send(t, now)
				}
			}
		}
	}
	shutdown(node)
	for range evc {
	}
	for _, t := range order {
		line := fmt.Sprintf("--- %s (%s): %d sent, %d answered, %d lost", t.name, t.id, t.sent, t.received, t.lost+len(t.pending))
		if t.received > 0 {
			line += fmt.Sprintf(", rtt min/avg/max = %.3f/%.3f/%.3f ms", ms(t.min), ms(t.sum/time.Duration(t.received)), ms(t.max))
		}
		out.line(line)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
