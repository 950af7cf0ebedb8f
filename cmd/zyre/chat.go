package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gozyre/zyre"
)

const chatHelp = `commands:
  /join G            join group G and talk to it
  /leave [G]         leave group G (default: the current group)
  /shout G text      shout text to group G
  /whisper WHO text  whisper text to one peer (name, UUID or UUID prefix)
  /peers             list peers
  /groups            list your groups and the peers' groups
  /quit              leave (also Ctrl-D, Ctrl-C)
  text               shout text to the current group (//text sends "/text")`

// chat is one interactive session.
type chat struct {
	node *zyre.Node
	con  console

	mu  sync.Mutex
	cur string // the current group; "" when in none
}

func runChat(ctx context.Context, e *env, args []string) error {
	fs, c := newFlagSet(e, "chat", "",
		"Chat with the peers on the network. Plain lines are shouted to the current group;\n"+
			"/help lists the commands. Line editing and history (up/down) on a terminal.", defaultCommon)
	group := fs.String("group", "CHAT", "`group` to join at start and talk to")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	if *group == "" || len(*group) > 255 {
		return usageErrorf("invalid --group: must be 1 to 255 bytes")
	}
	if err := c.check(false); err != nil {
		return err
	}
	con := newConsole(e.stdin, e.stdout)
	defer con.Close()
	cfg := c.config(c.logger(con))
	cfg.Groups = []string{*group}
	node, err := startNode(ctx, cfg)
	if err != nil {
		return err
	}
	defer node.Close()
	ch := &chat{node: node, con: con, cur: *group}
	con.Println(fmt.Sprintf("* you are %s (%s) at %s, in group %s; /help for commands",
		printable([]byte(node.Name())), node.ID(), node.Endpoint(), printable([]byte(*group))))
	ch.updatePrompt()

	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		for ev := range node.Events(context.Background()) {
			if s := chatEventText(ev); s != "" {
				con.Println(s)
			}
		}
	}()
	inDone := make(chan struct{})
	go func() {
		defer close(inDone)
		for {
			line, err := con.ReadLine()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, errInterrupted) {
					con.Println("* input: " + err.Error())
				}
				return
			}
			if !ch.handle(ctx, line) {
				return
			}
		}
	}()

	select {
	case <-ctx.Done():
	case <-inDone:
	}
	con.Println("* leaving")
	shutdown(node)
	select {
	case <-evDone:
	case <-time.After(shutdownTimeout):
	}
	return nil
}

func (ch *chat) updatePrompt() {
	ch.mu.Lock()
	cur := ch.cur
	ch.mu.Unlock()
	if cur == "" {
		ch.con.SetPrompt("(no group)> ")
	} else {
		ch.con.SetPrompt(printable([]byte(cur)) + "> ")
	}
}

func (ch *chat) current() string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.cur
}

func (ch *chat) setCurrent(g string) {
	ch.mu.Lock()
	ch.cur = g
	ch.mu.Unlock()
	ch.updatePrompt()
}

// handle runs one input line; it returns false to quit.
func (ch *chat) handle(ctx context.Context, line string) bool {
	if strings.TrimSpace(line) == "" {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	say := func(format string, args ...any) { ch.con.Println("* " + fmt.Sprintf(format, args...)) }
	me := printable([]byte(ch.node.Name()))

	if !strings.HasPrefix(line, "/") || strings.HasPrefix(line, "//") {
		text := strings.TrimPrefix(line, "/")
		cur := ch.current()
		if cur == "" {
			say("you are in no group: /join G first")
			return true
		}
		if err := ch.node.Shout(ctx, cur, []byte(text)); err != nil {
			say("shout: %v", err)
			return true
		}
		ch.con.Println(fmt.Sprintf("<%s@%s> %s", me, printable([]byte(cur)), printable([]byte(text))))
		return true
	}

	verb, rest := word(line[1:])
	switch strings.ToLower(verb) {
	case "quit", "exit", "q":
		return false
	case "help", "h", "?":
		for l := range strings.SplitSeq(chatHelp, "\n") {
			ch.con.Println(l)
		}
	case "join", "j":
		g := strings.TrimSpace(rest)
		if g == "" {
			say("usage: /join G")
			return true
		}
		if err := ch.node.Join(ctx, g); err != nil {
			say("join: %v", err)
			return true
		}
		ch.setCurrent(g)
		say("you joined %s (now talking to it)", printable([]byte(g)))
	case "leave", "part":
		g := strings.TrimSpace(rest)
		if g == "" {
			g = ch.current()
		}
		if g == "" {
			say("usage: /leave G")
			return true
		}
		if err := ch.node.Leave(ctx, g); err != nil {
			say("leave: %v", err)
			return true
		}
		say("you left %s", printable([]byte(g)))
		if ch.current() == g {
			next := ""
			if own, err := ch.node.OwnGroups(ctx); err == nil && len(own) > 0 {
				next = own[0]
			}
			ch.setCurrent(next)
		}
	case "shout", "s":
		g, text := word(rest)
		if g == "" {
			say("usage: /shout G text")
			return true
		}
		if err := ch.node.Shout(ctx, g, []byte(text)); err != nil {
			say("shout: %v", err)
			return true
		}
		ch.con.Println(fmt.Sprintf("<%s@%s> %s", me, printable([]byte(g)), printable([]byte(text))))
	case "whisper", "w", "msg":
		who, text := word(rest)
		if who == "" {
			say("usage: /whisper NAME-or-UUID text")
			return true
		}
		p, err := resolvePeer(ctx, ch.node, who)
		if err != nil {
			say("whisper: %v", err)
			return true
		}
		if err := ch.node.Whisper(ctx, p.ID, []byte(text)); err != nil {
			say("whisper: %v", err)
			return true
		}
		ch.con.Println(fmt.Sprintf("<%s -> %s> %s", me, printable([]byte(p.Name)), printable([]byte(text))))
	case "peers", "who":
		peers, err := ch.node.Peers(ctx)
		if err != nil {
			say("peers: %v", err)
			return true
		}
		say("%d peers", len(peers))
		for _, p := range peers {
			ch.con.Println(fmt.Sprintf("  %-12s %s %s groups: %s", printable([]byte(p.Name)), p.ID, p.Endpoint,
				dash(printable([]byte(strings.Join(p.Groups, ", "))))))
		}
	case "groups":
		own, err := ch.node.OwnGroups(ctx)
		if err != nil {
			say("groups: %v", err)
			return true
		}
		theirs, err := ch.node.PeerGroups(ctx)
		if err != nil {
			say("groups: %v", err)
			return true
		}
		cur := ch.current()
		var mine []string
		for _, g := range own {
			if g == cur {
				g += " (current)"
			}
			mine = append(mine, printable([]byte(g)))
		}
		say("your groups: %s", dash(strings.Join(mine, ", ")))
		var ps []string
		for _, g := range theirs {
			ps = append(ps, printable([]byte(g)))
		}
		slices.Sort(ps)
		say("peers' groups: %s", dash(strings.Join(ps, ", ")))
	default:
		say("unknown command /%s; /help lists them", printable([]byte(verb)))
	}
	return true
}

// chatEventText is how chat shows an event; "" for none.
func chatEventText(ev zyre.Event) string {
	ts := time.Now().Format("15:04:05")
	switch ev := ev.(type) {
	case zyre.EnterEvent:
		return fmt.Sprintf("%s * %s entered (%s at %s)", ts, printable([]byte(ev.Name)), ev.Peer, ev.Endpoint)
	case zyre.ExitEvent:
		return fmt.Sprintf("%s * %s left (%s)", ts, printable([]byte(ev.Name)), ev.Reason)
	case zyre.JoinEvent:
		return fmt.Sprintf("%s * %s joined %s", ts, printable([]byte(ev.Name)), printable([]byte(ev.Group)))
	case zyre.LeaveEvent:
		return fmt.Sprintf("%s * %s left %s", ts, printable([]byte(ev.Name)), printable([]byte(ev.Group)))
	case zyre.ShoutEvent:
		return fmt.Sprintf("%s <%s@%s> %s", ts, printable([]byte(ev.Name)), printable([]byte(ev.Group)), messageText(ev.Frames))
	case zyre.WhisperEvent:
		return fmt.Sprintf("%s <%s> (to you) %s", ts, printable([]byte(ev.Name)), messageText(ev.Frames))
	case zyre.EvasiveEvent:
		return fmt.Sprintf("%s * %s is quiet (evasive)", ts, printable([]byte(ev.Name)))
	case zyre.SilentEvent:
		return fmt.Sprintf("%s * %s is silent", ts, printable([]byte(ev.Name)))
	case zyre.LeaderEvent:
		return fmt.Sprintf("%s * %s leads %s", ts, printable([]byte(ev.Name)), printable([]byte(ev.Group)))
	case zyre.DroppedEvent:
		return fmt.Sprintf("%s * %d messages dropped (%s)", ts, ev.Count, ev.Reason)
	}
	return ""
}
