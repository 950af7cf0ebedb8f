package gossip

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"math"
	"slices"
	"time"
)

// Engine is the sans-IO ZGossip state machine of one node: a tuple store
// shared by a server (inbound clients) and any number of client sessions
// to remote servers, as in czmq's zgossip actor. A plain Zyre node has
// remotes only; a hub has clients and possibly remotes to other hubs.
//
// It does no I/O, starts no goroutines, never reads the clock and draws no
// random numbers: the owner feeds inputs with the current time and
// performs the outputs. Output order is deterministic: fan-outs go to
// connections in ConnID order and snapshots in key order.
//
// # Behaviour
//
// Server side. A client's HELLO gets every stored tuple. PUBLISH stores a
// tuple; a new key or a changed value is delivered to the owner and
// forwarded to every client that said HELLO and every remote, except the
// connection it came from (czmq echoes it back to the source too; the echo
// is a duplicate and harmless, we skip it). PING gets PONG. A malformed
// frame or a PONG from a client gets INVALID; so does PUBLISH before
// HELLO, but its tuple is stored anyway (a czmq client re-sends only HELLO
// after INVALID, so refusing it would lose it). INVALID is never answered.
//
// Client side. RemoteUp sends HELLO and then every stored tuple (czmq's
// server_connect does the same). Our own tuples are republished every
// RepublishInterval with our TTL, and PING goes out after PingInterval of
// silence on the connection. INVALID from the server means it lost our
// session: we send HELLO and every tuple again (at most once per
// PingInterval, since several INVALIDs may answer commands that were
// already in flight). A remote silent for RemoteTimeout is closed.
//
// # TTL
//
// We honour the TTL; czmq ignores it and always sends 0. So:
//
//   - TTL 0 means "no expiry information": such a tuple never expires by
//     time (czmq's own semantics). It goes away only by withdrawal.
//   - TTL > 0 expires the tuple TTL after the PUBLISH that (re)set it.
//     Expiry emits Expire and sends nothing: every holder of the tuple
//     runs its own clock.
//   - Forwarded tuples carry their remaining lifetime, not the original
//     TTL, so relays never extend a tuple beyond what its owner last
//     published, whatever the topology.
//   - A duplicate (same key and value) is dropped, but with a positive TTL
//     it may extend the expiry; the refresh is forwarded only when it moves
//     the expiry at least TTL/4 past the one we last forwarded. The owner's
//     republish (every TTL/3 by default) passes that bar; an echo coming
//     back round a loop extends the expiry by the loop's latency only and
//     dies out, so cycles cannot circulate refreshes forever (as long as a
//     loop's latency stays below TTL/4).
//   - A duplicate with TTL 0 (a czmq relay of one of our tuples) never
//     touches a known expiry, so czmq hubs cannot make our tuples immortal.
//     A tuple first learned with TTL 0 adopts the first real TTL it sees
//     for the same value, and that upgrade is forwarded.
//
// # Withdrawal
//
// WithdrawOwn sends PUBLISH(key, "", TTL 0). A holder removes the tuple,
// emits Expire (Withdrawn), forwards the withdrawal once (only when it held
// the tuple, so withdrawals die out in cycles) and keeps a tombstone for
// TombstoneHold: a PUBLISH of the withdrawn value still travelling another
// path is dropped, a different value is accepted. Withdrawals of unknown
// keys are dropped. Withdrawals of our own keys, and foreign values for
// them, are ignored.
//
// Connections do not own tuples: when a connection closes, the tuples
// learned through it stay until their TTL runs out or they are withdrawn
// (as in czmq, where they stay for good).
type Engine struct {
	log *slog.Logger
	ctx context.Context

	ttl, republish, ping, remoteTimeout, clientTimeout, hold mono
	ttlMS                                                    uint32
	maxTuples                                                int

	base  time.Time
	based bool
	now   mono // time of the current Step

	conns map[ConnID]*conn
	order []*conn // every connection, sorted by id: deterministic fan-out

	tuples map[string]*tuple
	own    int // own tuples in tuples
	tombs  map[string]tomb

	nextRepublish mono
	due           mono // lower bound of the next deadline (see NextDeadline)

	stopped  bool
	counters Counters
}

type conn struct {
	id        ConnID
	remote    bool // we dialled it: we are its client
	hello     bool // client: HELLO received, so it gets forwards (remotes: always)
	lastRecv  mono
	lastSend  mono
	lastHello mono // remote: when we last sent HELLO
}

type tuple struct {
	key, value string
	own        bool
	expiry     mono // monoNever: never (own tuples; TTL 0)
	announced  mono // expiry as we last forwarded it
}

type tomb struct {
	value string
	until mono
}

// mono is the engine's clock: nanoseconds since the first time Step saw.
type mono int64

const monoNever mono = math.MaxInt64

// New returns an engine for cfg (zero fields take their defaults).
func New(cfg Config) *Engine {
	e := &Engine{
		log:    cfg.Logger,
		ctx:    context.Background(),
		conns:  make(map[ConnID]*conn),
		tuples: make(map[string]*tuple),
		tombs:  make(map[string]tomb),
		due:    monoNever,
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	ttl := cfg.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	e.ttl = mono(ttl)
	ms := (ttl + time.Millisecond - 1) / time.Millisecond
	e.ttlMS = uint32(min(ms, math.MaxUint32))
	e.republish = mono(cfg.RepublishInterval)
	if e.republish <= 0 {
		e.republish = max(e.ttl/3, 1)
	}
	e.ping = mono(cfg.PingInterval)
	if e.ping <= 0 {
		e.ping = mono(DefaultPingInterval)
	}
	switch {
	case cfg.RemoteTimeout == 0:
		e.remoteTimeout = 10 * e.ping
	case cfg.RemoteTimeout > 0:
		e.remoteTimeout = mono(cfg.RemoteTimeout)
	}
	if cfg.ClientTimeout > 0 {
		e.clientTimeout = mono(cfg.ClientTimeout)
	}
	e.hold = mono(cfg.TombstoneHold)
	if e.hold <= 0 {
		e.hold = e.ttl
	}
	e.maxTuples = cfg.MaxTuples
	if e.maxTuples <= 0 {
		e.maxTuples = 1 << 16
	}
	return e
}

// Step feeds one input at time now and appends the resulting outputs to
// out. After Stop every input is ignored.
func (e *Engine) Step(now time.Time, in Input, out []Output) []Output {
	if e.stopped {
		return out
	}
	if !e.based {
		e.base, e.based = now, true
	}
	e.now = mono(now.Sub(e.base))
	switch in := in.(type) {
	case Tick:
		return e.tick(out)
	case MessageIn:
		c := e.conns[in.Conn]
		if c == nil {
			e.counters.UnknownConn++
			return out
		}
		c.lastRecv = e.now
		if in.Msg == nil {
			return e.onBad(c, ErrUnknownCommand, out)
		}
		if c.remote {
			return e.fromRemote(c, in.Msg, out)
		}
		return e.fromClient(c, in.Msg, out)
	case BadMessage:
		c := e.conns[in.Conn]
		if c == nil {
			e.counters.UnknownConn++
			return out
		}
		c.lastRecv = e.now
		return e.onBad(c, in.Err, out)
	case ClientUp:
		e.addConn(in.Conn, false)
		return out
	case RemoteUp:
		c := e.addConn(in.Conn, true)
		return e.sendHello(c, out)
	case ConnDown:
		e.dropConn(in.Conn) // unknown after our own Close: nothing to do
		return out
	case PublishOwn:
		return e.publishOwn(in.Key, in.Value, out)
	case WithdrawOwn:
		return e.withdrawOwn(in.Key, out)
	case Stop:
		return e.stop(out)
	}
	e.log.LogAttrs(e.ctx, slog.LevelWarn, "gossip: unknown input ignored", slog.Any("input", in))
	return out
}

// NextDeadline returns the earliest time at which the engine wants a Tick,
// or Never. It may be early (a refresh moved a timer later since it was
// computed); a Tick before anything is due just recomputes it.
func (e *Engine) NextDeadline() time.Time {
	if e.stopped || !e.based || e.due == monoNever {
		return Never
	}
	return e.base.Add(time.Duration(e.due))
}

// Tuples returns a snapshot of the store in key order.
func (e *Engine) Tuples() []Tuple {
	out := make([]Tuple, 0, len(e.tuples))
	for _, k := range slices.Sorted(maps.Keys(e.tuples)) {
		t := e.tuples[k]
		tp := Tuple{Key: t.key, Value: t.value, Own: t.own}
		if t.expiry != monoNever {
			tp.Expires = e.base.Add(time.Duration(t.expiry))
		}
		out = append(out, tp)
	}
	return out
}

// Len returns the number of tuples in the store, own ones included. It
// does not allocate (Tuples copies the store).
func (e *Engine) Len() int { return len(e.tuples) }

// Counters returns the engine's counters.
func (e *Engine) Counters() Counters { return e.counters }

// Stopped reports whether Stop was processed.
func (e *Engine) Stopped() bool { return e.stopped }

// ---------------------------------------------------------------------------
// Connections

func (e *Engine) addConn(id ConnID, remote bool) *conn {
	if e.conns[id] != nil {
		e.dropConn(id)
	}
	c := &conn{id: id, remote: remote, hello: remote, lastRecv: e.now, lastSend: e.now}
	e.conns[id] = c
	i, _ := slices.BinarySearchFunc(e.order, id, func(c *conn, id ConnID) int { return cmp.Compare(c.id, id) })
	e.order = slices.Insert(e.order, i, c)
	if remote {
		e.arm(e.now + e.ping)
		if e.remoteTimeout > 0 {
			e.arm(e.now + e.remoteTimeout)
		}
	} else if e.clientTimeout > 0 {
		e.arm(e.now + e.clientTimeout)
	}
	return c
}

func (e *Engine) dropConn(id ConnID) {
	delete(e.conns, id)
	if i, ok := slices.BinarySearchFunc(e.order, id, func(c *conn, id ConnID) int { return cmp.Compare(c.id, id) }); ok {
		e.order = slices.Delete(e.order, i, i+1)
	}
}

func (e *Engine) closeConn(c *conn, reason string, out []Output) []Output {
	e.dropConn(c.id)
	e.debug("close", slog.Uint64("conn", uint64(c.id)), slog.String("reason", reason))
	return append(out, Close{Conn: c.id, Reason: reason})
}

func (e *Engine) send(c *conn, m Message, out []Output) []Output {
	c.lastSend = e.now
	return append(out, Send{Conn: c.id, Msg: m})
}

// fanout sends m to every remote and every client that said HELLO, except
// the connection it came from.
func (e *Engine) fanout(except *conn, m Message, out []Output) []Output {
	for _, c := range e.order {
		if c != except && c.hello {
			out = e.send(c, m, out)
		}
	}
	return out
}

// sendHello opens (or re-opens) our session on a remote: HELLO, then
// every tuple.
func (e *Engine) sendHello(c *conn, out []Output) []Output {
	c.lastHello = e.now
	out = e.send(c, &Hello{}, out)
	return e.sendAll(c, out)
}

// sendAll sends every stored tuple to c, in key order.
func (e *Engine) sendAll(c *conn, out []Output) []Output {
	for _, k := range slices.Sorted(maps.Keys(e.tuples)) {
		out = e.send(c, e.publishMsg(e.tuples[k]), out)
	}
	return out
}

// publishMsg is the PUBLISH that announces t now: own tuples with our TTL,
// learned ones with their remaining lifetime (at least 1 ms, since 0 would
// mean none), or 0 when they have none.
func (e *Engine) publishMsg(t *tuple) *Publish {
	p := &Publish{Key: t.key, Value: t.value}
	switch {
	case t.own:
		p.TTL = e.ttlMS
	case t.expiry != monoNever:
		rem := (t.expiry - e.now + mono(time.Millisecond) - 1) / mono(time.Millisecond)
		p.TTL = uint32(min(max(rem, 1), math.MaxUint32))
	}
	return p
}

// ---------------------------------------------------------------------------
// Messages

func (e *Engine) fromClient(c *conn, m Message, out []Output) []Output {
	switch m := m.(type) {
	case *Hello:
		c.hello = true
		e.debug("client hello", slog.Uint64("conn", uint64(c.id)))
		return e.sendAll(c, out)
	case *Publish:
		if m == nil {
			return e.onBad(c, ErrUnknownCommand, out)
		}
		if !c.hello {
			// czmq answers INVALID and drops the tuple; we keep it, since
			// a czmq client re-sends only HELLO.
			out = e.invalid(c, out)
		}
		return e.accept(c, m, out)
	case *Ping:
		return e.send(c, &Pong{}, out)
	case *Invalid:
		e.counters.InvalidReceived++ // never answer INVALID with INVALID
		return out
	default: // PONG (or a foreign Message type)
		e.counters.Unexpected++
		return e.invalid(c, out)
	}
}

func (e *Engine) fromRemote(c *conn, m Message, out []Output) []Output {
	switch m := m.(type) {
	case *Publish:
		if m == nil {
			return e.onBad(c, ErrUnknownCommand, out)
		}
		return e.accept(c, m, out)
	case *Pong:
		return out
	case *Invalid:
		e.counters.InvalidReceived++
		if e.now-c.lastHello < e.ping {
			return out // answers to commands sent before our last HELLO
		}
		e.counters.ReHellos++
		e.debug("remote invalid: re-hello", slog.Uint64("conn", uint64(c.id)))
		return e.sendHello(c, out)
	case *Ping:
		e.counters.Unexpected++
		return e.send(c, &Pong{}, out)
	default: // HELLO from a server
		e.counters.Unexpected++
		return out
	}
}

// onBad handles frames that did not parse: INVALID to a client, nothing to
// a server (a czmq server would answer INVALID with INVALID).
func (e *Engine) onBad(c *conn, err error, out []Output) []Output {
	e.counters.BadMessages++
	e.debug("bad message", slog.Uint64("conn", uint64(c.id)), slog.Any("err", err))
	if c.remote {
		return out
	}
	return e.invalid(c, out)
}

func (e *Engine) invalid(c *conn, out []Output) []Output {
	e.counters.InvalidSent++
	return e.send(c, &Invalid{}, out)
}

// accept processes a PUBLISH from src (see Engine for the rules).
func (e *Engine) accept(src *conn, p *Publish, out []Output) []Output {
	if p.IsWithdrawal() {
		return e.withdrawn(src, p.Key, out)
	}
	t := e.tuples[p.Key]
	exp := monoNever
	if p.TTL != 0 {
		exp = e.now + mono(p.TTL)*mono(time.Millisecond)
	}
	switch {
	case t != nil && t.own:
		e.counters.OwnKeyConflicts++
		return out
	case t == nil:
		if tb, ok := e.tombs[p.Key]; ok && tb.value == p.Value && e.now < tb.until {
			e.counters.Tombstoned++
			return out
		}
		if len(e.tuples)-e.own >= e.maxTuples {
			e.counters.StoreFull++
			return out
		}
		delete(e.tombs, p.Key)
		t = &tuple{key: p.Key, value: p.Value, expiry: exp, announced: exp}
		e.tuples[p.Key] = t
	case t.value != p.Value:
		t.value, t.expiry, t.announced = p.Value, exp, exp
	default:
		return e.duplicate(src, t, p, exp, out)
	}
	e.arm(exp)
	e.counters.Delivered++
	e.debug("deliver", slog.String("key", t.key), slog.String("value", t.value), slog.Uint64("ttl", uint64(p.TTL)))
	out = append(out, Deliver{Key: t.key, Value: t.value})
	return e.fanout(src, e.publishMsg(t), out)
}

// duplicate handles a PUBLISH of the stored key and value: it may extend
// the expiry, and is forwarded only when that moves it far enough.
func (e *Engine) duplicate(src *conn, t *tuple, p *Publish, exp mono, out []Output) []Output {
	switch {
	case p.TTL == 0, exp <= t.expiry && t.expiry != monoNever:
		// No lifetime information (a czmq relay), or nothing new.
		e.counters.Duplicates++
		return out
	case t.expiry == monoNever:
		// Known so far only without a TTL: adopt the real one.
		t.expiry, t.announced = exp, exp
		e.arm(exp)
	default:
		t.expiry = exp // later than before: no need to arm
		if exp-t.announced < mono(p.TTL)*mono(time.Millisecond)/4 {
			e.counters.Duplicates++
			return out
		}
		t.announced = exp
	}
	e.counters.Refreshes++
	return e.fanout(src, e.publishMsg(t), out)
}

// withdrawn processes a withdrawal of key from src.
func (e *Engine) withdrawn(src *conn, key string, out []Output) []Output {
	t := e.tuples[key]
	switch {
	case t == nil:
		e.counters.Duplicates++
		return out
	case t.own:
		e.counters.OwnKeyConflicts++
		return out
	}
	e.remove(t)
	e.counters.Withdrawn++
	e.debug("withdrawn", slog.String("key", key))
	out = append(out, Expire{Key: t.key, Value: t.value, Withdrawn: true})
	return e.fanout(src, Withdrawal(key), out)
}

// remove deletes t and leaves a tombstone for its value.
func (e *Engine) remove(t *tuple) {
	delete(e.tuples, t.key)
	if t.own {
		e.own--
	}
	until := e.now + e.hold
	e.tombs[t.key] = tomb{value: t.value, until: until}
	e.arm(until)
}

// ---------------------------------------------------------------------------
// Own tuples

func (e *Engine) publishOwn(key, value string, out []Output) []Output {
	if err := ValidateTuple(key, value); err != nil {
		e.counters.BadOwnTuples++
		e.log.LogAttrs(e.ctx, slog.LevelWarn, "gossip: own tuple rejected", slog.String("key", key), slog.Any("err", err))
		return out
	}
	t := e.tuples[key]
	if t != nil && t.own && t.value == value {
		return out
	}
	if t == nil || !t.own {
		e.own++
		if e.own == 1 {
			e.nextRepublish = e.now + e.republish
			e.arm(e.nextRepublish)
		}
	}
	t = &tuple{key: key, value: value, own: true, expiry: monoNever, announced: monoNever}
	e.tuples[key] = t
	delete(e.tombs, key)
	return e.fanout(nil, e.publishMsg(t), out)
}

func (e *Engine) withdrawOwn(key string, out []Output) []Output {
	t := e.tuples[key]
	if t == nil || !t.own {
		return out
	}
	e.remove(t)
	return e.fanout(nil, Withdrawal(key), out)
}

func (e *Engine) stop(out []Output) []Output {
	for _, k := range slices.Sorted(maps.Keys(e.tuples)) {
		if e.tuples[k].own {
			out = e.withdrawOwn(k, out)
		}
	}
	for _, c := range slices.Clone(e.order) {
		out = e.closeConn(c, "stop", out)
	}
	e.stopped = true
	return out
}

// ---------------------------------------------------------------------------
// Timers

// arm makes sure the next deadline is no later than at.
func (e *Engine) arm(at mono) { e.due = min(e.due, at) }

func (e *Engine) tick(out []Output) []Output {
	now := e.now
	if now < e.due {
		return out
	}
	// Expired tuples, in key order.
	var expired []string
	for k, t := range e.tuples {
		if t.expiry <= now {
			expired = append(expired, k)
		}
	}
	slices.Sort(expired)
	for _, k := range expired {
		t := e.tuples[k]
		delete(e.tuples, k)
		e.counters.Expired++
		e.debug("expired", slog.String("key", k))
		out = append(out, Expire{Key: t.key, Value: t.value})
	}
	maps.DeleteFunc(e.tombs, func(_ string, tb tomb) bool { return tb.until <= now })

	// Republish own tuples before the pings, so they count as traffic.
	if e.own > 0 && now >= e.nextRepublish {
		for _, k := range slices.Sorted(maps.Keys(e.tuples)) {
			if t := e.tuples[k]; t.own {
				out = e.fanout(nil, e.publishMsg(t), out)
			}
		}
		e.nextRepublish = now + e.republish
	}

	for _, c := range slices.Clone(e.order) {
		switch {
		case c.remote && e.remoteTimeout > 0 && now-c.lastRecv >= e.remoteTimeout:
			e.counters.ClosedForSilence++
			out = e.closeConn(c, "remote silent", out)
		case !c.remote && e.clientTimeout > 0 && now-c.lastRecv >= e.clientTimeout:
			e.counters.ClosedForSilence++
			out = e.closeConn(c, "client silent", out)
		case c.remote && now-c.lastSend >= e.ping:
			out = e.send(c, &Ping{}, out)
		}
	}
	e.recompute()
	return out
}

// recompute sets due to the exact next deadline.
func (e *Engine) recompute() {
	d := monoNever
	for _, t := range e.tuples {
		d = min(d, t.expiry)
	}
	for _, tb := range e.tombs {
		d = min(d, tb.until)
	}
	if e.own > 0 {
		d = min(d, e.nextRepublish)
	}
	for _, c := range e.order {
		if c.remote {
			d = min(d, c.lastSend+e.ping)
			if e.remoteTimeout > 0 {
				d = min(d, c.lastRecv+e.remoteTimeout)
			}
		} else if e.clientTimeout > 0 {
			d = min(d, c.lastRecv+e.clientTimeout)
		}
	}
	e.due = d
}

func (e *Engine) debug(msg string, attrs ...slog.Attr) {
	if e.log.Enabled(e.ctx, slog.LevelDebug) {
		e.log.LogAttrs(e.ctx, slog.LevelDebug, "gossip: "+msg, attrs...)
	}
}
