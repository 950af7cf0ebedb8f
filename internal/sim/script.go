package sim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gozyre/zyre/internal/engine"
)

// A Script is a scenario in the datadriven style: one command per line,
// '#' comments and blank lines ignored. A command may be followed by a
// line "----" and its expected output, which ends at the next blank line
// (or the end of the file); the command's actual output must then match.
// See docs/sim.md for the commands.
type Script struct {
	Name  string
	lines []string
	cmds  []*Command
}

// Command is one script command.
type Command struct {
	Line     int      // 1-based line number
	Text     string   // the line as written, trimmed
	Args     []string // Text split on white space
	Expected *string  // the expected output, nil if the command has none
	Actual   string   // the output of the last run

	expFrom, expTo int // line indexes [from, to) of the expected output
}

// ScriptOptions configure a script run.
type ScriptOptions struct {
	// Seed, if SeedSet, replaces the script's seed command.
	Seed    uint64
	SeedSet bool
	// Trace and TraceLevel are passed to the simulator (see Options).
	Trace      io.Writer
	TraceLevel TraceLevel
	// Echo, if not nil, receives a transcript: each command, its output.
	Echo io.Writer
	// Rewrite records actual outputs without failing on a mismatch, so
	// that Script.Rewrite can write them back.
	Rewrite bool
}

// ParseScript reads a script.
func ParseScript(name string, r io.Reader) (*Script, error) {
	sc := &Script{Name: name}
	br := bufio.NewScanner(r)
	br.Buffer(nil, 1<<20)
	for br.Scan() {
		sc.lines = append(sc.lines, br.Text())
	}
	if err := br.Err(); err != nil {
		return nil, err
	}
	for k := 0; k < len(sc.lines); k++ {
		text := strings.TrimSpace(sc.lines[k])
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if text == "----" {
			return nil, fmt.Errorf("%s:%d: ---- without a command", name, k+1)
		}
		c := &Command{Line: k + 1, Text: text, Args: strings.Fields(text)}
		if k+1 < len(sc.lines) && strings.TrimSpace(sc.lines[k+1]) == "----" {
			c.expFrom = k + 2
			c.expTo = c.expFrom
			for c.expTo < len(sc.lines) && strings.TrimSpace(sc.lines[c.expTo]) != "" {
				c.expTo++
			}
			exp := ""
			for _, l := range sc.lines[c.expFrom:c.expTo] {
				exp += l + "\n"
			}
			c.Expected = &exp
			k = c.expTo
		}
		sc.cmds = append(sc.cmds, c)
	}
	return sc, nil
}

// Commands returns the script's commands.
func (sc *Script) Commands() []*Command { return sc.cmds }

// Rewrite returns the script with each expected output replaced by the
// actual output of the last run.
func (sc *Script) Rewrite() []byte {
	var b strings.Builder
	next := 0
	for _, c := range sc.cmds {
		if c.Expected == nil {
			continue
		}
		for _, l := range sc.lines[next:c.expFrom] {
			b.WriteString(l + "\n")
		}
		b.WriteString(c.Actual)
		next = c.expTo
	}
	for _, l := range sc.lines[next:] {
		b.WriteString(l + "\n")
	}
	return []byte(b.String())
}

// ScriptError is a failed command: a bad command, a failed expectation or
// an output that differs from the expected one.
type ScriptError struct {
	Script string
	Line   int
	Cmd    string
	Err    error
}

func (e *ScriptError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %v", e.Script, e.Line, e.Cmd, e.Err)
}

func (e *ScriptError) Unwrap() error { return e.Err }

// Runner runs a script's commands against one simulator.
type Runner struct {
	opts    ScriptOptions
	sim     *Sim
	seed    uint64
	link    Link
	started time.Time
}

// NewRunner returns a runner; the simulator is made at the first command
// that needs it, after any seed and link commands.
func NewRunner(opts ScriptOptions) *Runner {
	return &Runner{opts: opts, seed: opts.Seed, started: time.Now()}
}

// Sim returns the runner's simulator (nil before the first node is added).
func (r *Runner) Sim() *Sim { return r.sim }

// Seed returns the seed in effect.
func (r *Runner) Seed() uint64 { return r.seed }

// Run runs every command of sc in order and stops at the first failure.
func (r *Runner) Run(sc *Script) error {
	var mismatch error
	for _, c := range sc.cmds {
		if r.opts.Echo != nil {
			fmt.Fprintf(r.opts.Echo, "> %s\n", c.Text)
		}
		out, err := r.Exec(c.Args)
		c.Actual = out
		if r.opts.Echo != nil && out != "" {
			io.WriteString(r.opts.Echo, out)
		}
		if err != nil {
			if r.opts.Echo != nil {
				fmt.Fprintf(r.opts.Echo, "error: %v\n", err)
			}
			return &ScriptError{Script: sc.Name, Line: c.Line, Cmd: c.Text, Err: err}
		}
		if c.Expected != nil && *c.Expected != out && !r.opts.Rewrite {
			err := fmt.Errorf("output differs:\n--- expected\n%s--- actual\n%s", *c.Expected, out)
			if mismatch == nil {
				mismatch = &ScriptError{Script: sc.Name, Line: c.Line, Cmd: c.Text, Err: err}
			}
		}
	}
	if r.sim != nil {
		if err := r.sim.Flush(); err != nil && mismatch == nil {
			return fmt.Errorf("trace: %w", err)
		}
	}
	return mismatch
}

// RunScript parses and runs a script, writing a transcript and the final
// report to w (which may be nil). It returns the report of the run, also
// when a command fails.
func RunScript(r io.Reader, w io.Writer, opts ScriptOptions) (Report, error) {
	sc, err := ParseScript("script", r)
	if err != nil {
		return Report{}, err
	}
	if opts.Echo == nil {
		opts.Echo = w
	}
	run := NewRunner(opts)
	err = run.Run(sc)
	var rep Report
	if run.sim != nil {
		rep = run.sim.Report()
		if w != nil {
			io.WriteString(w, "\n")
			rep.WriteTo(w)
		}
	}
	return rep, err
}

func (r *Runner) need() (*Sim, error) {
	if r.sim == nil {
		return nil, errors.New("no nodes yet (add-nodes first)")
	}
	return r.sim, nil
}

// Exec runs one command and returns its output.
func (r *Runner) Exec(args []string) (string, error) {
	if len(args) == 0 {
		return "", nil
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "seed":
		if r.sim != nil {
			return "", errors.New("seed must come before add-nodes")
		}
		if len(args) != 1 {
			return "", errors.New("usage: seed N")
		}
		n, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil {
			return "", err
		}
		if !r.opts.SeedSet {
			r.seed = n
		}
		return "", nil
	case "link":
		l := r.link
		if r.sim != nil {
			l = r.sim.Link()
		}
		if err := parseLink(args, &l); err != nil {
			return "", err
		}
		r.link = l
		if r.sim != nil {
			r.sim.SetLink(l)
		}
		return "", nil
	case "add-nodes":
		return "", r.addNodes(args)
	}
	s, err := r.need()
	if err != nil {
		return "", err
	}
	switch cmd {
	case "run":
		if len(args) != 1 {
			return "", errors.New("usage: run DURATION")
		}
		d, err := time.ParseDuration(args[0])
		if err != nil {
			return "", err
		}
		s.Run(d)
		return "", nil
	case "run-until":
		return r.runUntil(s, args)
	case "join", "leave":
		if len(args) != 2 {
			return "", fmt.Errorf("usage: %s RANGE GROUP", cmd)
		}
		nodes, err := parseRange(args[0], s.Len())
		if err != nil {
			return "", err
		}
		for _, i := range nodes {
			if cmd == "join" {
				err = s.Join(i, args[1])
			} else {
				err = s.Leave(i, args[1])
			}
			if err != nil {
				return "", err
			}
		}
		return "", nil
	case "shout":
		if len(args) < 3 {
			return "", errors.New("usage: shout NODE GROUP TEXT...")
		}
		i, err := parseNode(args[0], s.Len())
		if err != nil {
			return "", err
		}
		return "", s.Shout(i, args[1], []byte(strings.Join(args[2:], " ")))
	case "whisper":
		if len(args) < 3 {
			return "", errors.New("usage: whisper FROM TO TEXT...")
		}
		i, err := parseNode(args[0], s.Len())
		if err != nil {
			return "", err
		}
		j, err := parseNode(args[1], s.Len())
		if err != nil {
			return "", err
		}
		return "", s.Whisper(i, j, []byte(strings.Join(args[2:], " ")))
	case "partition":
		var sides [][]int
		for _, part := range splitBar(args) {
			var side []int
			for _, a := range part {
				nodes, err := parseRange(a, s.Len())
				if err != nil {
					return "", err
				}
				side = append(side, nodes...)
			}
			sides = append(sides, side)
		}
		if len(sides) == 0 {
			return "", errors.New("usage: partition RANGE [| RANGE ...]")
		}
		s.Partition(sides...)
		return "", nil
	case "heal":
		s.Heal()
		return "", nil
	case "drop", "delay":
		if len(args) != 3 {
			return "", fmt.Errorf("usage: %s FROM-RANGE TO-RANGE VALUE", cmd)
		}
		from, err := parseRange(args[0], s.Len())
		if err != nil {
			return "", err
		}
		to, err := parseRange(args[1], s.Len())
		if err != nil {
			return "", err
		}
		var rate float64
		var d time.Duration
		if cmd == "drop" {
			rate, err = strconv.ParseFloat(args[2], 64)
		} else {
			d, err = time.ParseDuration(args[2])
		}
		if err != nil {
			return "", err
		}
		for _, a := range from {
			for _, b := range to {
				if a == b {
					continue
				}
				if cmd == "drop" {
					s.Drop(a, b, rate)
				} else {
					s.Delay(a, b, d)
				}
			}
		}
		return "", nil
	case "clear-faults":
		s.ClearFaults()
		return "", nil
	case "crash", "kill", "stop", "restart":
		if len(args) < 1 || len(args) > 2 || (len(args) == 2 && (cmd != "restart" || args[1] != "new-id")) {
			return "", fmt.Errorf("usage: %s RANGE%s", cmd, map[bool]string{true: " [new-id]"}[cmd == "restart"])
		}
		nodes, err := parseRange(args[0], s.Len())
		if err != nil {
			return "", err
		}
		for _, i := range nodes {
			switch cmd {
			case "crash":
				err = s.Crash(i)
			case "kill":
				err = s.Kill(i)
			case "stop":
				err = s.Stop(i)
			default:
				err = s.Restart(i, len(args) == 2)
			}
			if err != nil {
				return "", err
			}
		}
		return "", nil
	case "mark":
		s.Mark()
		return "", nil
	case "verify":
		return "", s.Verify()
	case "status":
		return r.status(s), nil
	case "stats":
		rep := s.Report()
		return rep.Deterministic(), nil
	case "report":
		rep := s.Report()
		var b strings.Builder
		rep.WriteTo(&b)
		return b.String(), nil
	case "peers":
		return r.peers(s, args)
	case "exits":
		return r.exits(s), nil
	case "expect":
		return "", r.expect(s, args)
	}
	return "", fmt.Errorf("unknown command %q", cmd)
}

func (r *Runner) addNodes(args []string) error {
	if len(args) < 1 {
		return errors.New("usage: add-nodes N [beacon=D] [evasive=D] [silent=D] [expired=D] [stagger=D] [groups=A,B]")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return fmt.Errorf("bad node count %q", args[0])
	}
	cfg := NodeConfig{BeaconInterval: time.Second}
	for _, kv := range args[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("want key=value, got %q", kv)
		}
		if k == "groups" {
			cfg.Groups = strings.Split(v, ",")
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		switch k {
		case "beacon":
			cfg.BeaconInterval = d
		case "evasive":
			cfg.EvasiveTimeout = d
		case "silent":
			cfg.SilentTimeout = d
		case "expired":
			cfg.ExpiredTimeout = d
		case "stagger":
			cfg.Stagger = d
		default:
			return fmt.Errorf("unknown add-nodes option %q", k)
		}
	}
	if r.sim == nil {
		r.sim = New(Options{Seed: r.seed, Trace: r.opts.Trace, TraceLevel: r.opts.TraceLevel, Link: r.link})
		r.sim.wallStart = r.started
	}
	r.sim.AddNodes(n, cfg)
	return nil
}

func parseLink(args []string, l *Link) error {
	for _, kv := range args {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("want key=value, got %q", kv)
		}
		if k == "loss" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				return fmt.Errorf("bad loss %q", v)
			}
			l.Loss = f
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		switch k {
		case "latency":
			l.Latency = d
		case "jitter":
			l.Jitter = d
		case "stall":
			l.StallTimeout = d
		default:
			return fmt.Errorf("unknown link option %q", k)
		}
	}
	return nil
}

// runUntil: "run-until converged [max=D]". Its output is the virtual time
// convergence took.
func (r *Runner) runUntil(s *Sim, args []string) (string, error) {
	if len(args) < 1 || args[0] != "converged" {
		return "", errors.New("usage: run-until converged [max=DURATION]")
	}
	limit := time.Minute
	for _, kv := range args[1:] {
		v, ok := strings.CutPrefix(kv, "max=")
		if !ok {
			return "", fmt.Errorf("unknown option %q", kv)
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return "", err
		}
		limit = d
	}
	start := s.Now()
	if !s.RunUntilConverged(limit) {
		return "", fmt.Errorf("not converged after %s: %s", limit, r.missingSummary(s))
	}
	return "converged after " + fmtDur(s.Now()-start) + "\n", nil
}

func (r *Runner) status(s *Sim) string {
	live, lo, hi := 0, -1, 0
	for i := range s.Len() {
		if !s.Up(i) {
			continue
		}
		live++
		n := s.ReadyPeers(i)
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	conv := "apart"
	if s.Converged() {
		conv = "converged"
	}
	return fmt.Sprintf("t=%s live=%d/%d %s ready-peers min=%d max=%d\n", fmtDur(s.Now()), live, s.Len(), conv, max(lo, 0), hi)
}

// peers: "peers NODE" lists the node's ready peers (node indexes, as ranges).
func (r *Runner) peers(s *Sim, args []string) (string, error) {
	if len(args) != 1 {
		return "", errors.New("usage: peers NODE")
	}
	i, err := parseNode(args[0], s.Len())
	if err != nil {
		return "", err
	}
	e := s.Engine(i)
	if e == nil {
		return fmt.Sprintf("n%d: down\n", i), nil
	}
	var ready, other []int
	for _, p := range e.Peers() {
		ref, ok := s.owners[p.ID]
		idx := -1
		if ok {
			idx = int(ref.node)
		}
		if p.Ready {
			ready = append(ready, idx)
		} else {
			other = append(other, idx)
		}
	}
	slices.Sort(ready)
	slices.Sort(other)
	out := fmt.Sprintf("n%d: %d ready: %s\n", i, len(ready), fmtRange(ready))
	if len(other) > 0 {
		out += fmt.Sprintf("n%d: %d not ready: %s\n", i, len(other), fmtRange(other))
	}
	return out, nil
}

// exits lists the EXIT reasons since the last mark, most frequent first.
func (r *Runner) exits(s *Sim) string {
	type kv struct {
		k string
		v int
	}
	var l []kv
	for k, v := range s.exitWhy {
		l = append(l, kv{k, v})
	}
	slices.SortFunc(l, func(a, b kv) int {
		if a.v != b.v {
			return b.v - a.v
		}
		return strings.Compare(a.k, b.k)
	})
	var b strings.Builder
	for _, e := range l {
		fmt.Fprintf(&b, "%d %s\n", e.v, e.k)
	}
	if b.Len() == 0 {
		return "none\n"
	}
	return b.String()
}

func (r *Runner) missingSummary(s *Sim) string {
	var bad []string
	for i := range s.Len() {
		if !s.Up(i) {
			continue
		}
		if want := r.liveCount(s) - 1; s.ReadyPeers(i) != want {
			bad = append(bad, fmt.Sprintf("n%d=%d", i, s.ReadyPeers(i)))
		}
	}
	return fmt.Sprintf("%d peer pairs missing; ready-peer counts off at %d nodes: %s",
		s.Missing(), len(bad), strings.Join(first(bad, 10), " "))
}

func (r *Runner) liveCount(s *Sim) int {
	n := 0
	for i := range s.Len() {
		if s.Up(i) {
			n++
		}
	}
	return n
}

func first(l []string, n int) []string {
	if len(l) > n {
		return append(l[:n:n], fmt.Sprintf("... (%d more)", len(l)-n))
	}
	return l
}

// ---------------------------------------------------------------------------
// expect

func (r *Runner) expect(s *Sim, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: expect WHAT ...")
	}
	what, args := args[0], args[1:]
	switch what {
	case "converged":
		if !s.Converged() {
			return errors.New("not converged: " + r.missingSummary(s))
		}
		return nil
	case "not-converged":
		if s.Converged() {
			return errors.New("converged")
		}
		return nil
	case "peers":
		// expect peers RANGE OP K
		if len(args) != 3 {
			return errors.New("usage: expect peers RANGE OP K")
		}
		return r.perNode(s, args, func(i int) int { return s.ReadyPeers(i) })
	case "exits", "events":
		// expect exits RANGE OP K; expect events TYPE RANGE OP K
		typ := engine.EventExit
		if what == "events" {
			if len(args) != 4 {
				return errors.New("usage: expect events TYPE RANGE OP K")
			}
			t, err := parseEventType(args[0])
			if err != nil {
				return err
			}
			typ, args = t, args[1:]
		}
		if len(args) != 3 {
			return fmt.Errorf("usage: expect %s RANGE OP K", what)
		}
		return r.perNode(s, args, func(i int) int { return s.EventCount(i, typ) })
	case "exit-reason":
		// expect exit-reason REASON... OP K (total since the last mark)
		if len(args) < 3 {
			return errors.New("usage: expect exit-reason REASON OP K")
		}
		reason := strings.Join(args[:len(args)-2], " ")
		got := s.exitWhy[reason]
		ok, err := compare(got, args[len(args)-2], args[len(args)-1])
		if err != nil || ok {
			return err
		}
		return fmt.Errorf("%d EXITs with reason %q; all reasons:\n%s", got, reason, r.exits(s))
	case "counter":
		// expect counter NAME RANGE OP K (sum over RANGE)
		if len(args) != 4 {
			return errors.New("usage: expect counter NAME RANGE OP K")
		}
		k := slices.IndexFunc(counterNames, func(c counterName) bool { return c.name == args[0] })
		if k < 0 {
			names := make([]string, len(counterNames))
			for n, c := range counterNames {
				names[n] = c.name
			}
			return fmt.Errorf("unknown counter %q (have %s)", args[0], strings.Join(names, ", "))
		}
		nodes, err := parseRange(args[1], s.Len())
		if err != nil {
			return err
		}
		var sum uint64
		var parts []string
		for _, i := range nodes {
			if e := s.Engine(i); e != nil {
				c := e.Counters()
				v := counterNames[k].get(&c)
				sum += v
				if v > 0 {
					parts = append(parts, fmt.Sprintf("n%d=%d", i, v))
				}
			}
		}
		ok, err := compare(int(sum), args[2], args[3])
		if err != nil || ok {
			return err
		}
		return fmt.Errorf("counter %s sums to %d: %s", args[0], sum, strings.Join(first(parts, 10), " "))
	case "delivered", "whispered":
		// expect delivered GROUP TEXT... OP K; expect whispered TEXT... OP K
		if n := map[string]int{"delivered": 4, "whispered": 3}[what]; len(args) < n {
			if what == "delivered" {
				return errors.New("usage: expect delivered GROUP TEXT... OP K")
			}
			return errors.New("usage: expect whispered TEXT... OP K")
		}
		op, want := args[len(args)-2], args[len(args)-1]
		var counts []int
		if what == "delivered" {
			counts = s.Delivered(args[0], []byte(strings.Join(args[1:len(args)-2], " ")))
		} else {
			counts = s.Whispered([]byte(strings.Join(args[:len(args)-2], " ")))
		}
		once := 0
		var dups []string
		for i, c := range counts {
			switch {
			case c == 1:
				once++
			case c > 1:
				dups = append(dups, fmt.Sprintf("n%d×%d", i, c))
			}
		}
		ok, err := compare(once, op, want)
		if err != nil {
			return err
		}
		if ok && len(dups) == 0 {
			return nil
		}
		var missing []string
		for i, c := range counts {
			if c == 0 && s.Up(i) {
				missing = append(missing, fmt.Sprintf("n%d", i))
			}
		}
		msg := fmt.Sprintf("%d nodes received it exactly once", once)
		if len(dups) > 0 {
			msg += fmt.Sprintf("; %d more than once: %s", len(dups), strings.Join(first(dups, 10), " "))
		}
		if len(missing) > 0 {
			msg += fmt.Sprintf("; %d live nodes never: %s", len(missing), strings.Join(first(missing, 10), " "))
		}
		return errors.New(msg)
	}
	return fmt.Errorf("unknown expectation %q", what)
}

// perNode checks "RANGE OP K" against value(i) for each node in RANGE and
// explains the differences: which nodes, and a histogram of their values.
func (r *Runner) perNode(s *Sim, args []string, value func(int) int) error {
	nodes, err := parseRange(args[0], s.Len())
	if err != nil {
		return err
	}
	var bad []string
	hist := map[int]int{}
	for _, i := range nodes {
		v := value(i)
		ok, err := compare(v, args[1], args[2])
		if err != nil {
			return err
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("n%d=%d", i, v))
		}
		hist[v]++
	}
	if len(bad) == 0 {
		return nil
	}
	vals := make([]int, 0, len(hist))
	for v := range hist {
		vals = append(vals, v)
	}
	slices.Sort(vals)
	var h []string
	for _, v := range vals {
		h = append(h, fmt.Sprintf("%d×%d", v, hist[v]))
	}
	return fmt.Errorf("%d of %d nodes differ: %s (values: %s)", len(bad), len(nodes),
		strings.Join(first(bad, 10), " "), strings.Join(first(h, 12), ", "))
}

func compare(got int, op, wantStr string) (bool, error) {
	want, err := strconv.Atoi(wantStr)
	if err != nil {
		return false, fmt.Errorf("bad number %q", wantStr)
	}
	switch op {
	case "=", "==":
		return got == want, nil
	case "!=":
		return got != want, nil
	case ">=":
		return got >= want, nil
	case "<=":
		return got <= want, nil
	case ">":
		return got > want, nil
	case "<":
		return got < want, nil
	}
	return false, fmt.Errorf("bad operator %q (want = != >= <= > <)", op)
}

func parseEventType(s string) (engine.EventType, error) {
	for t, name := range eventNames {
		if name != "" && strings.EqualFold(name, s) {
			return engine.EventType(t), nil
		}
	}
	return 0, fmt.Errorf("unknown event type %q", s)
}

// parseNode parses one node index.
func parseNode(a string, n int) (int, error) {
	i, err := strconv.Atoi(a)
	if err != nil || i < 0 || i >= n {
		return 0, fmt.Errorf("bad node %q (have 0-%d)", a, n-1)
	}
	return i, nil
}

// parseRange parses "all", "5", "0-499" and comma lists of those.
func parseRange(a string, n int) ([]int, error) {
	if a == "all" {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	var out []int
	for _, part := range strings.Split(a, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		l, err := parseNode(lo, n)
		if err != nil {
			return nil, err
		}
		h := l
		if isRange {
			if h, err = parseNode(hi, n); err != nil {
				return nil, err
			}
		}
		if h < l {
			return nil, fmt.Errorf("bad range %q", part)
		}
		for i := l; i <= h; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}

// fmtRange prints sorted indexes as "0-4,6,9-12"; negative ones (unknown
// peers) as "?".
func fmtRange(l []int) string {
	var b strings.Builder
	for len(l) > 0 && l[0] < 0 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('?')
		l = l[1:]
	}
	for k := 0; k < len(l); {
		j := k
		for j+1 < len(l) && l[j+1] == l[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j == k {
			b.WriteString(strconv.Itoa(l[k]))
		} else {
			fmt.Fprintf(&b, "%d-%d", l[k], l[j])
		}
		k = j + 1
	}
	return b.String()
}

// splitBar splits arguments at "|" tokens (also "a|b" written together).
func splitBar(args []string) [][]string {
	var parts [][]string
	var cur []string
	for _, a := range args {
		for k, piece := range strings.Split(a, "|") {
			if k > 0 {
				parts = append(parts, cur)
				cur = nil
			}
			if piece != "" {
				cur = append(cur, piece)
			}
		}
	}
	if len(cur) > 0 || len(parts) > 0 {
		parts = append(parts, cur)
	}
	return parts
}
