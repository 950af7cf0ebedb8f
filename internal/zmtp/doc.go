// Package zmtp implements the slice of ZMTP 3.1 (RFC 37, with RFC 23 for
// 3.0 peers) that ZRE needs: greetings, frames, commands, the NULL
// security mechanism with an interface ready for CURVE, and ROUTER/DEALER
// semantics over any net.Conn. It is not a ZeroMQ clone: there are no
// other socket types, no sending from a Router and no reconnection logic.
//
// # Layers
//
//   - Codecs: Greeting, frames (AppendFrame, ParseFrame, FrameReader,
//     FrameWriter), commands (AppendCommand, ParseCommand) and READY
//     metadata (AppendMetadata, ParseMetadata). Parsers never panic on
//     any input; input that ends too early fails with an error matching
//     io.ErrUnexpectedEOF.
//   - Conn: Handshake turns a net.Conn into an established connection
//     with Recv, Send, Flush and Heartbeat.
//   - Dealer: one outbound connection with a bounded send queue and a
//     writer goroutine that coalesces bursts into one system call.
//   - Router: a listener whose connections feed one bounded receive queue
//     tagged with routing ids, with ROUTER_HANDOVER semantics.
//
// # Wire compatibility with libzmq
//
// We send our whole greeting at once, with libzmq's padding (identity
// length + 1) in signature bytes 1 to 8, and read the peer's greeting in
// stages (signature, version, rest), so a peer that sends its signature
// and waits for ours never deadlocks with us. Any padding and any version
// from 3.0 up is accepted; ZMTP 3.0 peers get no PINGs. With NULL both
// sides send READY without waiting, as libzmq does. READY carries
// Socket-Type and Identity (empty on a ROUTER), exactly as libzmq sends
// them.
//
// # Memory
//
// Frames returned by FrameReader, Conn.Recv and Router are owned by the
// caller and never reused by this package. Frames up to 1 KiB are carved
// from shared 32 KiB chunks (one allocation per chunk rather than per
// message), so a retained small frame keeps its chunk alive. Consumers
// that are done with large frames may hand them back (Router.Release,
// Conn.Release) to spare the allocator and the GC; this is optional.
// Messages handed to a Dealer are kept, not copied, until written.
package zmtp
