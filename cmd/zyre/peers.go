package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gozyre/zyre"
)

func runPeers(ctx context.Context, e *env, args []string) error {
	fs, c := newFlagSet(e, "peers", "",
		"Start a node, wait for peers to show up, then list them: name, UUID, endpoint,\n"+
			"groups and headers.", defaultCommon)
	wait := fs.Duration("wait", 3*time.Second, "how long to listen before listing")
	asJSON := fs.Bool("json", false, "print a JSON array of {peer, name, endpoint, groups, headers}")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	if *wait < 0 {
		return usageErrorf("invalid --wait %v: negative", *wait)
	}
	if err := c.check(false); err != nil {
		return err
	}
	node, err := startNode(ctx, c.config(c.logger(e.stderr)))
	if err != nil {
		return err
	}
	defer node.Close()
	// Drain events so that the queue never pushes back on peers.
	go func() {
		for range node.Events(context.Background()) {
		}
	}()

	select {
	case <-ctx.Done():
	case <-time.After(*wait):
	}
	qctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	peers, err := node.Peers(qctx)
	shutdown(node)
	if err != nil {
		return failf("peers: %v", err)
	}

	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	if *asJSON {
		b, err := json.Marshal(peersJSON(peers))
		if err != nil {
			return failf("%v", err)
		}
		out.Write(b)
		out.WriteByte('\n')
		return nil
	}
	if len(peers) == 0 {
		fmt.Fprintf(out, "no peers found in %v\n", *wait)
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tUUID\tENDPOINT\tGROUPS\tHEADERS")
	for _, p := range peers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", printable([]byte(p.Name)), p.ID, p.Endpoint,
			dash(printable([]byte(strings.Join(p.Groups, ",")))), dash(headerText(p)))
	}
	return tw.Flush()
}

func headerText(p zyre.PeerInfo) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(p.Headers)) {
		parts = append(parts, printable([]byte(k+"="+p.Headers[k])))
	}
	return strings.Join(parts, " ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
