package main

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"github.com/gozyre/zyre"
)

func runTime(ctx context.Context, e *env, args []string) error {
	fs, c := newFlagSet(e, "time", "",
		"Shout the current time (RFC 3339) to a group every second, and say so on stdout.", defaultCommon)
	group := fs.String("group", "time", "`group` to shout to (and join)")
	every := fs.Duration("every", time.Second, "time between shouts")
	count := fs.Int("count", 0, "stop after this many shouts (0: until interrupted)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usageErrorf("unexpected argument %q", pos[0])
	case *group == "" || len(*group) > 255:
		return usageErrorf("invalid --group: must be 1 to 255 bytes")
	case *every <= 0:
		return usageErrorf("invalid --every %v: must be positive", *every)
	case *count < 0:
		return usageErrorf("invalid --count %d: negative", *count)
	}
	if err := c.check(false); err != nil {
		return err
	}
	cfg := c.config(c.logger(e.stderr))
	cfg.Groups = []string{*group}
	node, err := startNode(ctx, cfg)
	if err != nil {
		return err
	}
	defer node.Close()
	out := &lineWriter{w: bufio.NewWriter(e.stdout)}
	out.line(fmt.Sprintf("%s (%s) shouting the time to %q every %v", node.Name(), node.ID(), *group, *every))

	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		for ev := range node.Events(context.Background()) {
			switch ev := ev.(type) {
			case zyre.JoinEvent:
				if ev.Group == *group {
					out.line(fmt.Sprintf("%s joined %s", printable([]byte(ev.Name)), *group))
				}
			case zyre.ExitEvent:
				out.line(fmt.Sprintf("%s left", printable([]byte(ev.Name))))
			}
		}
	}()

	tick := time.NewTicker(*every)
	defer tick.Stop()
	for i := 0; *count == 0 || i < *count; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		now := time.Now().Format(time.RFC3339)
		members, _ := node.PeersByGroup(ctx, *group)
		if err := node.Shout(ctx, *group, []byte(now)); err != nil {
			if ctx.Err() != nil {
				break
			}
			return failf("shout: %v", err)
		}
		out.line(fmt.Sprintf("%s -> %s (members: %d)", now, *group, len(members)))
	}
	shutdown(node)
	<-evDone
	return nil
}
