// Package sim is a deterministic discrete-event simulator for large ZRE
// clusters. Each node is an engine.Engine (the sans-IO state machine the
// real node runs); the network, the clock and the faults are simulated on
// one goroutine, so 1,000 nodes run in seconds and a seed replays exactly.
//
// # Model
//
// Time is virtual: nanoseconds since Epoch, advanced from event to event.
// The queue is a heap of events ordered by (time, insertion sequence); the
// only randomness is a seeded PCG generator (loss, jitter, start stagger)
// and a second one for node UUIDs, so the same seed and script give the
// same trace byte for byte.
//
// Node i has address 10.0.0.1+i and mailbox port MailboxPort. The
// simulator performs the engine's outputs:
//
//   - SendBeacon: the beacon is encoded and parsed with the beacon codec
//     and broadcast to every running node on the same partition side,
//     sender included (the engine ignores its own). Each copy is lost with
//     Link.Loss and delayed by Latency plus a uniform draw in [0, Jitter].
//   - Connect opens the stream from the node to the node at the endpoint;
//     Disconnect closes it. Messages already on the wire are still
//     delivered (a graceful close); data held by a partition is dropped.
//     With Inbound, the peer on the same partition side gets ConnLost one
//     latency later, as its outbox would when we close its connection.
//   - Send: the message is encoded (Append) and parsed again on delivery
//     (zre.ParseFrames), so every message crosses the real codec; a parse
//     failure is delivered as engine.BadMessage. Content frames are copied
//     at send time; the receiver owns its copy. A stream is reliable and
//     FIFO: a message arrives at max(previous arrival, now+latency+jitter).
//   - Emit: the event is counted per node and type, traced, and used for
//     the convergence bookkeeping (ENTER/EXIT) and delivery checks (SHOUT,
//     WHISPER).
//
// Each node has at most one pending tick, at its engine's NextDeadline;
// superseded ticks stay in the heap and are skipped when they come up.
//
// # Faults
//
// Partition assigns side ids (nats-server style): nodes on different sides
// exchange nothing. Datagrams across are dropped; a stream across stalls,
// holding its data, and resets after Link.StallTimeout: the held data is
// lost and the stream carries on, as a ZeroMQ outbox reconnects without
// telling the engine (the receiver then sees a sequence gap). Heal, or a
// new partition that reunites the sides, flushes held data in order.
// Per-pair Drop and Delay (etcd rafttest style) apply to datagrams and
// messages alike; a dropped message models data lost in a reset. A Hook
// sees every packet and may drop it. Crash discards a node's engine and
// everything in flight from or to it; Restart boots a new engine at the
// same address with the old or a new UUID; Stop steps engine.Stop (a
// port-0 beacon and GOODBYEs, which are delivered) and takes the node down.
//
// # Scripts, traces and reports
//
// Scenarios are scripts (testdata/*.txt, parsed by ParseScript, run by a
// Runner or RunScript) in the datadriven style; see docs/sim.md for the
// commands. The trace (Options.Trace) is one text line per delivered or
// dropped packet and per event; tests hash it and, on failure, replay the
// run into a file in t.ArtifactDir(). Report summarises convergence time,
// traffic by message type, events per node, peak heap and wall time.
package sim
