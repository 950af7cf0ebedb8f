package sim

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gozyre/zyre/internal/engine"
	"github.com/gozyre/zyre/internal/zre"
)

// numCmds bounds the per-command tables: ZRE command ids are 1..10.
const numCmds = int(zre.CmdGoodbye) + 1

// Traffic counts one kind of stream message.
type Traffic struct {
	Sent      uint64 // handed to the network (encoded)
	Delivered uint64 // parsed and stepped into the receiver
	Dropped   uint64 // lost: fault, hook, stream reset, receiver down
	Bytes     uint64 // bytes sent: frame 0 plus content frames
}

// Stats are the simulator's counters.
type Stats struct {
	SimEvents uint64 // queue events processed
	Steps     uint64 // engine Step calls

	BeaconsSent      uint64 // broadcasts
	BeaconsDelivered uint64 // copies delivered (including to the sender)
	BeaconsDropped   uint64 // copies lost: loss, partition, fault, hook
	BeaconBytes      uint64 // bytes broadcast (one copy per broadcast)

	Messages [numCmds]Traffic    // by zre.Command
	Events   [nEventTypes]uint64 // application events by engine.EventType

	Connects, Disconnects uint64
	Stalls                uint64 // streams blocked by a partition
	Held                  uint64 // messages held by stalled streams
	StreamResets          uint64 // stalled streams that reset (held data lost)

	// Anomalies: zero unless the engine or the simulator misbehaves.
	ConnectUnknown   uint64 // Connect to an endpoint no node has
	SendUnknown      uint64 // Send to a UUID no node ever had
	SendNotConnected uint64 // Send without Connect (or after Disconnect)
	EncodeErrors     uint64 // Send of a message the codec refused
	ParseErrors      uint64 // delivered frames that did not parse
}

// MessageTotal returns the messages and bytes sent over every command.
func (st *Stats) MessageTotal() (msgs, bytes uint64) {
	for _, t := range st.Messages {
		msgs += t.Sent
		bytes += t.Bytes
	}
	return msgs, bytes
}

// Report is the outcome of a run: convergence, traffic, events and cost.
type Report struct {
	Seed    uint64
	Nodes   int // nodes ever added
	Live    int // nodes up at the end
	SimTime time.Duration
	Wall    time.Duration // since the simulator was made

	Converged bool
	// ConvergeTime is the virtual time from the nodes' first unconverged
	// instant (usually their start) to their first convergence; -1 if they
	// never converged.
	ConvergeTime time.Duration
	Transitions  []Transition

	Stats    Stats
	Counters engine.Counters // summed over every engine, crashed ones included

	EventsMin, EventsMax int // application events per node (all incarnations)
	EventsAvg            float64

	PeakHeap uint64 // largest runtime.MemStats.HeapAlloc sampled during the run
}

// Report summarises the run so far.
func (s *Sim) Report() Report {
	s.sampleHeap()
	r := Report{
		Seed:         s.opts.Seed,
		Nodes:        len(s.nodes),
		SimTime:      time.Duration(s.now),
		Wall:         time.Since(s.wallStart),
		Converged:    s.missing == 0,
		ConvergeTime: -1,
		Transitions:  append([]Transition(nil), s.convLog...),
		Stats:        s.stats,
		Counters:     s.lost,
		PeakHeap:     s.peakHeap,
	}
	for k, t := range s.convLog {
		if t.Converged && k > 0 {
			r.ConvergeTime = t.At - s.convLog[0].At
			break
		}
	}
	total := 0
	for k, nd := range s.nodes {
		if nd.up {
			r.Live++
			c := nd.eng.Counters()
			addCounters(&r.Counters, &c)
		}
		n := 0
		for _, c := range nd.evTotal {
			n += int(c)
		}
		total += n
		if k == 0 || n < r.EventsMin {
			r.EventsMin = n
		}
		r.EventsMax = max(r.EventsMax, n)
	}
	if len(s.nodes) > 0 {
		r.EventsAvg = float64(total) / float64(len(s.nodes))
	}
	return r
}

func addCounters(dst, src *engine.Counters) {
	dst.BeaconsIgnored += src.BeaconsIgnored
	dst.MessagesUnknownPeer += src.MessagesUnknownPeer
	dst.BadMessages += src.BadMessages
	dst.SequenceGaps += src.SequenceGaps
	dst.StatusMismatches += src.StatusMismatches
	dst.PeersExpired += src.PeersExpired
	dst.PeersNeverReady += src.PeersNeverReady
	dst.PeersUnresponsive += src.PeersUnresponsive
	dst.WhispersUnknownPeer += src.WhispersUnknownPeer
}

type counterName struct {
	name string
	get  func(*engine.Counters) uint64
}

// counterNames maps script names to engine counters.
var counterNames = []counterName{
	{"beacons-ignored", func(c *engine.Counters) uint64 { return c.BeaconsIgnored }},
	{"unknown-peer", func(c *engine.Counters) uint64 { return c.MessagesUnknownPeer }},
	{"bad-messages", func(c *engine.Counters) uint64 { return c.BadMessages }},
	{"sequence-gaps", func(c *engine.Counters) uint64 { return c.SequenceGaps }},
	{"status-mismatches", func(c *engine.Counters) uint64 { return c.StatusMismatches }},
	{"expired", func(c *engine.Counters) uint64 { return c.PeersExpired }},
	{"never-ready", func(c *engine.Counters) uint64 { return c.PeersNeverReady }},
	{"unresponsive", func(c *engine.Counters) uint64 { return c.PeersUnresponsive }},
	{"whispers-unknown", func(c *engine.Counters) uint64 { return c.WhispersUnknownPeer }},
}

// WriteTo writes the report as text. Wall time and heap figures vary from
// run to run; everything else is determined by the script and seed.
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	r.writeSim(&b)
	fmt.Fprintf(&b, "wall time     %s (virtual time ran %.1fx as fast), %s engine steps/s\n",
		r.Wall.Round(time.Millisecond), r.SimTime.Seconds()/max(r.Wall.Seconds(), 1e-9),
		group(uint64(float64(r.Stats.Steps)/max(r.Wall.Seconds(), 1e-9))))
	fmt.Fprintf(&b, "peak heap     %.1f MB\n", float64(r.PeakHeap)/(1<<20))
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// writeSim writes the deterministic part of the report.
func (r *Report) writeSim(b *strings.Builder) {
	fmt.Fprintf(b, "nodes         %d (%d live), seed %d, virtual time %s\n", r.Nodes, r.Live, r.Seed, fmtDur(r.SimTime))
	conv := "no"
	if r.Converged {
		conv = "yes"
	}
	fmt.Fprintf(b, "converged     %s", conv)
	if r.ConvergeTime >= 0 {
		fmt.Fprintf(b, "; first convergence %s after start", fmtDur(r.ConvergeTime))
	}
	b.WriteString("\n")
	if len(r.Transitions) > 0 {
		b.WriteString("transitions  ")
		for k, t := range r.Transitions {
			if k == 12 {
				fmt.Fprintf(b, " ... (%d more)", len(r.Transitions)-k)
				break
			}
			state := "apart"
			if t.Converged {
				state = "converged"
			}
			fmt.Fprintf(b, " %s@%s", state, fmtDur(t.At))
		}
		b.WriteString("\n")
	}
	st := &r.Stats
	fmt.Fprintf(b, "engine steps  %s (queue events %s)\n", group(st.Steps), group(st.SimEvents))
	fmt.Fprintf(b, "beacons       %s sent (%s), %s copies delivered, %s dropped\n",
		group(st.BeaconsSent), bytesStr(st.BeaconBytes), group(st.BeaconsDelivered), group(st.BeaconsDropped))
	msgs, bytes := st.MessageTotal()
	fmt.Fprintf(b, "messages      %s sent (%s)\n", group(msgs), bytesStr(bytes))
	for c := 1; c < numCmds; c++ {
		t := st.Messages[c]
		if t == (Traffic{}) {
			continue
		}
		fmt.Fprintf(b, "  %-10s  %12s sent %12s delivered %10s dropped %10s\n",
			zre.Command(c).String(), group(t.Sent), group(t.Delivered), group(t.Dropped), bytesStr(t.Bytes))
	}
	b.WriteString("events       ")
	for t := 1; t < nEventTypes; t++ {
		if st.Events[t] > 0 {
			fmt.Fprintf(b, " %s %s", eventNames[t], group(st.Events[t]))
		}
	}
	b.WriteString("\n")
	fmt.Fprintf(b, "events/node   min %d avg %.1f max %d\n", r.EventsMin, r.EventsAvg, r.EventsMax)
	fmt.Fprintf(b, "streams       %s connects, %s disconnects, %s stalls (%s messages held), %s resets\n",
		group(st.Connects), group(st.Disconnects), group(st.Stalls), group(st.Held), group(st.StreamResets))
	if a := st.ConnectUnknown + st.SendUnknown + st.SendNotConnected + st.EncodeErrors + st.ParseErrors; a > 0 {
		fmt.Fprintf(b, "anomalies     connect-unknown %d, send-unknown %d, send-not-connected %d, encode %d, parse %d\n",
			st.ConnectUnknown, st.SendUnknown, st.SendNotConnected, st.EncodeErrors, st.ParseErrors)
	}
	b.WriteString("counters     ")
	for _, c := range counterNames {
		fmt.Fprintf(b, " %s=%d", c.name, c.get(&r.Counters))
	}
	b.WriteString("\n")
}

// Deterministic returns the part of the report that depends only on the
// script and seed (no wall time, no heap).
func (r *Report) Deterministic() string {
	var b strings.Builder
	r.writeSim(&b)
	return b.String()
}

// fmtDur prints a virtual duration in seconds with millisecond precision.
func fmtDur(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
}

// group prints n with thousands separators.
func group(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b []byte
	pre := len(s) % 3
	if pre > 0 {
		b = append(b, s[:pre]...)
	}
	for k := pre; k < len(s); k += 3 {
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = append(b, s[k:k+3]...)
	}
	return string(b)
}

func bytesStr(n uint64) string {
	switch {
	case n >= 10<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	case n >= 10<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KB"
	}
	return strconv.FormatUint(n, 10) + " B"
}
