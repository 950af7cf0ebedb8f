package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gozyre/zyre"
)

// eventJSON is one line of "zyre events --json".
type eventJSON struct {
	Type     string            `json:"type"`
	Peer     string            `json:"peer,omitempty"`
	Name     string            `json:"name,omitempty"`
	Group    string            `json:"group,omitempty"`
	Endpoint string            `json:"endpoint,omitempty"`
	Headers  map[string]string `json:"headers,omitzero"`
	Frames   []string          `json:"frames,omitzero"`
	Reason   string            `json:"reason,omitempty"`
	Count    uint64            `json:"count,omitempty"`
	Peers    []peerJSON        `json:"peers,omitzero"`
	Stats    *zyre.Stats       `json:"stats,omitempty"`
	Error    string            `json:"error,omitempty"`
}

// toJSON converts an event. Headers and frames are never nil where they
// apply, so that ENTER always has "headers" and WHISPER/SHOUT "frames".
func toJSON(ev zyre.Event) eventJSON {
	j := eventJSON{Type: ev.Type().String()}
	switch ev := ev.(type) {
	case zyre.EnterEvent:
		j.Peer, j.Name, j.Endpoint, j.Headers = ev.Peer.String(), ev.Name, ev.Endpoint, ev.Headers
		if j.Headers == nil {
			j.Headers = map[string]string{}
		}
	case zyre.ExitEvent:
		j.Peer, j.Name, j.Reason = ev.Peer.String(), ev.Name, ev.Reason
	case zyre.JoinEvent:
		j.Peer, j.Name, j.Group = ev.Peer.String(), ev.Name, ev.Group
	case zyre.LeaveEvent:
		j.Peer, j.Name, j.Group = ev.Peer.String(), ev.Name, ev.Group
	case zyre.WhisperEvent:
		j.Peer, j.Name, j.Frames = ev.Peer.String(), ev.Name, frameStrings(ev.Frames)
	case zyre.ShoutEvent:
		j.Peer, j.Name, j.Group, j.Frames = ev.Peer.String(), ev.Name, ev.Group, frameStrings(ev.Frames)
	case zyre.EvasiveEvent:
		j.Peer, j.Name = ev.Peer.String(), ev.Name
	case zyre.SilentEvent:
		j.Peer, j.Name = ev.Peer.String(), ev.Name
	case zyre.LeaderEvent:
		j.Peer, j.Name, j.Group = ev.Peer.String(), ev.Name, ev.Group
	case zyre.DroppedEvent:
		if !ev.Peer.IsZero() {
			j.Peer = ev.Peer.String()
		}
		j.Count, j.Reason = ev.Count, ev.Reason
	case zyre.StopEvent:
	}
	return j
}

// toText is the human-readable form of an event (zyre events without --json).
func toText(ev zyre.Event) string {
	j := toJSON(ev)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-7s", time.Now().Format("15:04:05.000"), j.Type)
	if j.Peer != "" {
		fmt.Fprintf(&b, " %s %s", j.Peer, printable([]byte(j.Name)))
	}
	if j.Group != "" {
		fmt.Fprintf(&b, " group=%s", printable([]byte(j.Group)))
	}
	if j.Endpoint != "" {
		fmt.Fprintf(&b, " endpoint=%s", j.Endpoint)
	}
	for _, k := range slices.Sorted(maps.Keys(j.Headers)) {
		fmt.Fprintf(&b, " %s=%s", printable([]byte(k)), printable([]byte(j.Headers[k])))
	}
	if j.Reason != "" {
		fmt.Fprintf(&b, " reason=%s", j.Reason)
	}
	if j.Count != 0 {
		fmt.Fprintf(&b, " count=%d", j.Count)
	}
	switch ev := ev.(type) {
	case zyre.WhisperEvent:
		fmt.Fprintf(&b, " %s", messageText(ev.Frames))
	case zyre.ShoutEvent:
		fmt.Fprintf(&b, " %s", messageText(ev.Frames))
	}
	return strings.TrimRight(b.String(), " ")
}

// lineWriter writes whole lines to w, one at a time, flushing each.
type lineWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *lineWriter) line(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.WriteString(s)
	l.w.WriteByte('\n')
	l.w.Flush()
}

func (l *lineWriter) json(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(eventJSON{Type: "ERROR", Error: err.Error()})
	}
	l.line(string(b))
}

func runEvents(ctx context.Context, e *env, args []string) error {
	fs, c := newFlagSet(e, "events", "",
		"Print every event of a node, then its STOP. With --json: one JSON object per line,\n"+
			"first {\"type\":\"READY\",...}. Commands on stdin, one per line:\n"+
			"  JOIN g | LEAVE g | SHOUT g text | WHISPER uuid-or-name text | PEERS | STATS | QUIT\n"+
			"(STATS: the node's counters.) EOF on stdin quits politely. Text starting with \"base64:\" is decoded.", defaultCommon)
	asJSON := fs.Bool("json", false, "one JSON object per line")
	var groups stringList
	fs.Var(&groups, "group", "`group` to join from the start (repeatable)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	if err := c.check(false); err != nil {
		return err
	}
	cfg := c.config(c.logger(e.stderr))
	cfg.Groups = groups
	node, err := startNode(ctx, cfg)
	if err != nil {
		return err
	}
	defer node.Close()
	done := make(chan struct{})
	defer close(done)
	shutdownOn(ctx, node, done)

	out := &lineWriter{w: bufio.NewWriter(e.stdout)}
	errorf := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if *asJSON {
			out.json(eventJSON{Type: "ERROR", Error: msg})
		} else {
			out.line("ERROR " + msg)
		}
	}
	if *asJSON {
		out.json(struct {
			Type     string `json:"type"`
			Peer     string `json:"peer"`
			Name     string `json:"name"`
			Endpoint string `json:"endpoint"`
			Gossip   string `json:"gossip,omitempty"` // --gossip-bind, port filled in
		}{"READY", node.ID().String(), node.Name(), node.Endpoint(), node.GossipEndpoint()})
	} else {
		line := fmt.Sprintf("READY %s %s endpoint=%s", node.ID(), node.Name(), node.Endpoint())
		if g := node.GossipEndpoint(); g != "" {
			line += " gossip=" + g
		}
		out.line(line)
	}

	go func() {
		sc := bufio.NewScanner(e.stdin)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			quit, err := eventsCommand(ctx, node, sc.Text(), out, *asJSON)
			if err != nil {
				errorf("%v", err)
			}
			if quit {
				break
			}
		}
		if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
			errorf("stdin: %v", err)
		}
		shutdown(node)
	}()

	for ev := range node.Events(context.Background()) {
		if *asJSON {
			out.json(toJSON(ev))
		} else {
			out.line(toText(ev))
		}
		if ev.Type() == zyre.EventStop {
			break
		}
	}
	return nil
}

// eventsCommand runs one command line of "zyre events". It reports whether
// the command was QUIT.
func eventsCommand(ctx context.Context, n *zyre.Node, line string, out *lineWriter, asJSON bool) (quit bool, err error) {
	line = strings.TrimRight(line, "\r")
	if strings.TrimSpace(line) == "" {
		return false, nil
	}
	verb, rest := word(line)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	switch strings.ToUpper(verb) {
	case "JOIN", "LEAVE":
		g, extra := word(rest)
		if g == "" || extra != "" {
			return false, fmt.Errorf("usage: %s GROUP", strings.ToUpper(verb))
		}
		if strings.ToUpper(verb) == "JOIN" {
			return false, n.Join(cctx, g)
		}
		return false, n.Leave(cctx, g)
	case "SHOUT":
		g, text := word(rest)
		if g == "" {
			return false, errors.New("usage: SHOUT GROUP TEXT")
		}
		f, err := parseFrame(text)
		if err != nil {
			return false, err
		}
		return false, n.Shout(cctx, g, f)
	case "WHISPER":
		who, text := word(rest)
		if who == "" {
			return false, errors.New("usage: WHISPER UUID TEXT")
		}
		p, err := resolvePeer(cctx, n, who)
		if err != nil {
			return false, err
		}
		f, err := parseFrame(text)
		if err != nil {
			return false, err
		}
		return false, n.Whisper(cctx, p.ID, f)
	case "PEERS":
		peers, err := n.Peers(cctx)
		if err != nil {
			return false, err
		}
		if asJSON {
			out.json(eventJSON{Type: "PEERS", Peers: peersJSON(peers)})
		} else {
			out.line(fmt.Sprintf("PEERS %d", len(peers)))
			for _, p := range peers {
				out.line(fmt.Sprintf("  %s %s %s groups=%s", p.ID, printable([]byte(p.Name)), p.Endpoint, strings.Join(p.Groups, ",")))
			}
		}
		return false, nil
	case "STATS":
		st := n.Stats()
		if asJSON {
			out.json(eventJSON{Type: "STATS", Stats: &st})
		} else {
			out.line(fmt.Sprintf("STATS %+v", st))
		}
		return false, nil
	case "QUIT":
		return true, nil
	}
	return false, fmt.Errorf("unknown command %q (want JOIN, LEAVE, SHOUT, WHISPER, PEERS, STATS or QUIT)", verb)
}

// word splits off the first space-separated word of s (leading blanks
// skipped); rest is what follows the one blank after it, spaces kept.
func word(s string) (first, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i+1:]
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	if v == "" || len(v) > 255 {
		return errors.New("group name must be 1 to 255 bytes")
	}
	*s = append(*s, v)
	return nil
}
