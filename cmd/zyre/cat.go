package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gozyre/zyre"
)

func runCat(ctx context.Context, e *env, args []string) error {
	fs, c := newFlagSet(e, "cat", "GROUP",
		"Join GROUP, shout every line of stdin to it and print the first frame of every\n"+
			"shout received in GROUP on stdout, one per line. EOF on stdin leaves politely.\n"+
			"When stdin is not a terminal, the first line waits until a peer is in GROUP\n"+
			"(at most --wait after start), so that piped lines are not lost.", defaultCommon)
	wait := fs.Duration("wait", 3*time.Second, "at most this long after start, wait for a peer in GROUP before shouting piped input")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("want exactly one GROUP argument, got %d", len(pos))
	}
	group := pos[0]
	if len(group) > 255 {
		return usageErrorf("group name longer than 255 bytes")
	}
	if *wait < 0 {
		return usageErrorf("invalid --wait %v: negative", *wait)
	}
	if err := c.check(false); err != nil {
		return err
	}
	cfg := c.config(c.logger(e.stderr))
	cfg.Groups = []string{group}
	node, err := startNode(ctx, cfg)
	if err != nil {
		return err
	}
	defer node.Close()
	deadline := time.Now().Add(*wait)

	// Shouts in GROUP go to stdout as they arrive.
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		out := bufio.NewWriter(e.stdout)
		for ev := range node.Events(context.Background()) {
			if sh, ok := ev.(zyre.ShoutEvent); ok && sh.Group == group {
				if len(sh.Frames) > 0 {
					out.Write(sh.Frames[0])
				}
				out.WriteByte('\n')
				out.Flush()
			}
		}
	}()

	lines := make(chan string)
	go func() {
		defer close(lines)
		r := bufio.NewReader(e.stdin)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
				select {
				case lines <- line:
				case <-ctx.Done():
					return
				}
			}
			if err != nil && err != io.EOF {
				fmt.Fprintf(e.stderr, "zyre cat: stdin: %v\n", err)
			}
			if err != nil {
				return
			}
		}
	}()

	waited := isTerminal(e.stdin)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case line, ok := <-lines:
			if !ok {
				break loop
			}
			if !waited {
				if !waitForGroupPeer(ctx, node, group, deadline) && ctx.Err() == nil {
					fmt.Fprintf(e.stderr, "zyre cat: no peer in %s after %v; shouting anyway\n", group, *wait)
				}
				waited = true
			}
			if err := node.Shout(ctx, group, []byte(line)); err != nil {
				if ctx.Err() != nil {
					break loop
				}
				fmt.Fprintf(e.stderr, "zyre cat: shout: %v\n", err)
			}
		}
	}
	shutdown(node)
	<-recvDone
	if n := node.Stats().MessagesUnsent; n > 0 {
		// Shouts queued to a peer that could not be reached before the
		// shutdown gave up: say so rather than lose lines silently.
		fmt.Fprintf(e.stderr, "zyre cat: %d messages to peers were not sent (a peer was unreachable or left)\n", n)
	}
	return nil
}

// waitForGroupPeer waits until some peer is in group, deadline passes or ctx
// ends, and tells whether it saw one (or could not ask).
func waitForGroupPeer(ctx context.Context, n *zyre.Node, group string, deadline time.Time) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		if ids, err := n.PeersByGroup(ctx, group); err != nil || len(ids) > 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return false
}
