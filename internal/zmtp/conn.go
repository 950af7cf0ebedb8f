package zmtp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// SocketType is a ZMTP socket type as sent in the Socket-Type property.
type SocketType string

// Socket types. Only DEALER and ROUTER can be used locally; REQ and REP
// are recognised as peers (RFC 28 allows DEALER-REP and ROUTER-REQ).
const (
	SocketDealer SocketType = "DEALER"
	SocketRouter SocketType = "ROUTER"
	SocketReq    SocketType = "REQ"
	SocketRep    SocketType = "REP"
)

// Compatible reports whether a socket of type t may talk to a peer of type
// peer: DEALER to DEALER, ROUTER or REP; ROUTER to DEALER, ROUTER or REQ.
func (t SocketType) Compatible(peer SocketType) bool {
	switch t {
	case SocketDealer:
		return peer == SocketDealer || peer == SocketRouter || peer == SocketRep
	case SocketRouter:
		return peer == SocketDealer || peer == SocketRouter || peer == SocketReq
	}
	return false
}

// Config configures one ZMTP connection. The zero value is not usable:
// SocketType must be set.
type Config struct {
	// SocketType is our socket type, SocketDealer or SocketRouter.
	SocketType SocketType
	// Identity is sent in the Identity property of READY: 0 to 255
	// bytes, not starting with a zero byte. A ZRE DEALER uses 0x01 and
	// its 16-byte UUID. A ROUTER sends an empty Identity, as libzmq does.
	Identity []byte
	// Metadata holds extra properties sent in READY after Socket-Type
	// and Identity (application properties are named "X-...").
	Metadata Metadata
	// Mechanism is the security mechanism. Nil: Null.
	Mechanism Mechanism
	// MaxMessageSize bounds one incoming message (the sum of its
	// frames), checked against declared sizes before allocating. With an
	// encrypting mechanism it bounds the decrypted frames (each wire
	// frame may exceed it by the mechanism's framing). 0:
	// DefaultMaxMessageSize (256 MiB); negative: no limit.
	MaxMessageSize int64
	// HeartbeatInterval is the time between our PINGs when Heartbeat is
	// driven (Dealer and Router drive it). 0: no heartbeats. PINGs go to
	// ZMTP 3.1 peers only.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long to wait for any traffic after a PING
	// before giving up on the peer. 0: HeartbeatInterval (as libzmq).
	HeartbeatTimeout time.Duration
	// HeartbeatTTL is the time-to-live announced in our PINGs: the peer
	// may close the connection when it hears nothing from us for this
	// long. 0: none. Rounded down to tenths of a second, at most 6553.5 s.
	HeartbeatTTL time.Duration
	// ReadBufferSize and WriteBufferSize size the connection's buffers.
	// 0: DefaultBufferSize (64 KiB).
	ReadBufferSize, WriteBufferSize int
	// Logger receives connection-level logs. Nil: discard.
	Logger *slog.Logger
}

// check validates c and fills defaults.
func (c Config) withDefaults() (Config, error) {
	if c.SocketType != SocketDealer && c.SocketType != SocketRouter {
		return c, fmt.Errorf("%w: socket type %q (want DEALER or ROUTER)", ErrConfig, c.SocketType)
	}
	if len(c.Identity) > 255 {
		return c, fmt.Errorf("%w: identity of %d bytes (at most 255)", ErrConfig, len(c.Identity))
	}
	if len(c.Identity) > 0 && c.Identity[0] == 0 {
		return c, fmt.Errorf("%w: identity must not start with a zero byte (reserved)", ErrConfig)
	}
	if c.Mechanism == nil {
		c.Mechanism = Null
	}
	if err := checkMechanismName(c.Mechanism.Name()); err != nil {
		return c, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.HeartbeatInterval < 0 || c.HeartbeatTimeout < 0 || c.HeartbeatTTL < 0 {
		return c, fmt.Errorf("%w: negative heartbeat setting", ErrConfig)
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = c.HeartbeatInterval
	}
	if c.HeartbeatTTL > 6553500*time.Millisecond {
		c.HeartbeatTTL = 6553500 * time.Millisecond
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = DefaultBufferSize
	}
	if c.WriteBufferSize <= 0 {
		c.WriteBufferSize = DefaultBufferSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// localMetadata is what we send in READY: Socket-Type, Identity, extras.
func (c *Config) localMetadata() Metadata {
	id := c.Identity
	if id == nil {
		id = emptyBody
	}
	md := make(Metadata, 0, 2+len(c.Metadata))
	md = append(md, Property{Name: PropSocketType, Value: []byte(c.SocketType)}, Property{Name: PropIdentity, Value: id})
	return append(md, c.Metadata...)
}

// countingReader counts the bytes read from a connection: any traffic is
// proof of life.
type countingReader struct {
	r io.Reader
	n atomic.Uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n.Add(uint64(n))
	}
	return n, err
}

// Conn is an established ZMTP connection (after Handshake). One goroutine
// may read (Recv) while another writes (Send, Flush, Heartbeat); PONG
// replies produced while reading are written under the same lock as Send.
// Close may be called from any goroutine.
type Conn struct {
	nc   net.Conn
	cfg  Config
	log  *slog.Logger
	cnt  countingReader
	r    *FrameReader
	wmu  sync.Mutex
	w    *FrameWriter
	peer Greeting
	md   Metadata
	typ  SocketType
	id   []byte

	// onPing, when set, takes over PONG replies (the Dealer hands them
	// to its writer goroutine). It must not block.
	onPing func(context []byte)

	peerTTL   atomic.Int64 // TTL the peer announced in its last PING, ns
	unknown   atomic.Uint64
	pings     atomic.Uint64
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// Heartbeat state; only touched by the goroutine calling Heartbeat.
	hbBytes    uint64
	hbActivity time.Time
	hbSent     time.Time
	hbWaiting  bool

	pool bufPool // recycles large bodies handed back by Release
}

// Handshake performs the ZMTP greeting and the mechanism's handshake over
// nc and returns the established connection. ctx bounds the handshake
// (through nc's deadlines, which are cleared on success). On failure nc is
// closed.
//
// Our whole greeting is sent before anything is read, so peers that send
// their signature first and wait for ours (libzmq) never deadlock with us;
// all handshake writes are made by a helper goroutine, so both peers may
// write at once even over an unbuffered net.Pipe.
func Handshake(ctx context.Context, nc net.Conn, cfg Config) (*Conn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		nc.Close()
		return nil, err
	}
	c := newConn(nc, cfg)
	if err := c.handshake(ctx); err != nil {
		nc.Close()
		c.log.Debug("zmtp handshake failed", "err", err)
		return nil, err
	}
	return c, nil
}

func newConn(nc net.Conn, cfg Config) *Conn {
	c := &Conn{nc: nc, cfg: cfg}
	c.log = cfg.Logger.With("remote", addrString(nc.RemoteAddr()))
	c.cnt.r = nc
	c.r = newFrameReader(bufio.NewReaderSize(&c.cnt, cfg.ReadBufferSize), cfg.MaxMessageSize)
	c.r.ar.pool = &c.pool
	c.w = NewFrameWriter(nc, cfg.WriteBufferSize)
	return c
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// errorWriteTimeout bounds the write of an ERROR command before closing.
const errorWriteTimeout = time.Second

func (c *Conn) handshake(ctx context.Context) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Deadlines: ctx's deadline, and cancellation through AfterFunc.
	var mu sync.Mutex
	var finished bool
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		_ = c.nc.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !finished {
			_ = c.nc.SetDeadline(time.Unix(1, 0))
		}
	})
	defer func() {
		stop()
		mu.Lock()
		finished = true
		mu.Unlock()
		var ne net.Error
		if err != nil && errors.As(err, &ne) && ne.Timeout() {
			// Report a deadline or cancellation as ctx's error (the
			// connection's deadline may fire just before ctx's timer).
			if cerr := ctx.Err(); cerr != nil {
				err = fmt.Errorf("zmtp: handshake: %w (%v)", cerr, err)
			} else if hasDeadline && !time.Now().Before(deadline) {
				err = fmt.Errorf("zmtp: handshake: %w (%v)", context.DeadlineExceeded, err)
			}
		}
		if err == nil {
			err = c.nc.SetDeadline(time.Time{})
		}
	}()

	hw := startHandshakeWriter(c.nc)
	defer func() {
		if err != nil {
			c.nc.Close() // unblocks the writer
		}
		if werr := hw.finish(); err == nil && werr != nil {
			err = fmt.Errorf("zmtp: handshake write: %w", werr)
		}
	}()

	mech := c.cfg.Mechanism
	ours := Greeting{
		Padding:   uint64(len(c.cfg.Identity)) + 1,
		Major:     3,
		Minor:     1,
		Mechanism: mech.Name(),
		AsServer:  mech.AsServer(),
	}
	gb, err := ours.Append(make([]byte, 0, GreetingSize))
	if err != nil {
		return err
	}
	hw.send(gb)

	peer, err := c.readGreeting()
	if err != nil {
		return err
	}
	c.peer = peer
	if peer.Mechanism != mech.Name() {
		return fmt.Errorf("%w: peer wants %q, we use %q", ErrMechanismMismatch, peer.Mechanism, mech.Name())
	}

	md, codec, err := mech.Handshake(ctx, &handshakeConn{c: c, hw: hw}, c.cfg.localMetadata())
	if err != nil {
		return err
	}
	st, ok := md.Get(PropSocketType)
	if !ok {
		return fmt.Errorf("%w: peer sent no Socket-Type", ErrSocketType)
	}
	c.typ = SocketType(st)
	if !c.cfg.SocketType.Compatible(c.typ) {
		reason := "Invalid socket type"
		if body, err := AppendCommand(nil, CommandError, appendErrorData(nil, reason)); err == nil {
			frame := AppendFrame(nil, FlagCommand, body)
			if codec != nil {
				if f, err := codec.AppendEncoded(nil, FlagCommand, body); err == nil {
					frame = f
				}
			}
			_ = c.nc.SetWriteDeadline(time.Now().Add(errorWriteTimeout))
			hw.send(frame)
			_ = hw.finish() // let the ERROR go out before we close
		}
		return fmt.Errorf("%w: %s cannot talk to %q", ErrSocketType, c.cfg.SocketType, st)
	}
	if id, ok := md.Get(PropIdentity); ok && len(id) > 0 {
		if len(id) > 255 {
			return fmt.Errorf("%w: peer identity of %d bytes (at most 255)", ErrBadMetadata, len(id))
		}
		c.id = id
	}
	c.md = md
	if codec != nil {
		c.r.setCodec(codec)
	}
	c.w.codec = codec
	return nil
}

// readGreeting reads the peer's greeting in stages: the signature first,
// then the version, then the rest, validating each before waiting for more.
func (c *Conn) readGreeting() (Greeting, error) {
	var buf [GreetingSize]byte
	if _, err := io.ReadFull(c.r.br, buf[:SignatureSize]); err != nil {
		return Greeting{}, greetingReadErr(err)
	}
	if err := checkSignature(buf[:]); err != nil {
		return Greeting{}, err
	}
	if _, err := io.ReadFull(c.r.br, buf[SignatureSize:offMinor+1]); err != nil {
		return Greeting{}, greetingReadErr(err)
	}
	if err := checkVersion(buf[offMajor], buf[offMinor]); err != nil {
		return Greeting{}, err
	}
	if _, err := io.ReadFull(c.r.br, buf[offMinor+1:]); err != nil {
		return Greeting{}, greetingReadErr(err)
	}
	g, _, err := ParseGreeting(buf[:])
	return g, err
}

func greetingReadErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w (peer closed during the greeting)", ErrTruncated)
	}
	return fmt.Errorf("zmtp: reading greeting: %w", err)
}

// handshakeWriter performs the handshake's writes on its own goroutine so
// that reading never waits for the peer to drain our writes.
type handshakeWriter struct {
	ch   chan []byte
	done chan struct{}
	err  error
	once sync.Once
}

func startHandshakeWriter(w io.Writer) *handshakeWriter {
	hw := &handshakeWriter{ch: make(chan []byte, 8), done: make(chan struct{})}
	go func() { // owned by the handshake: finish waits for it
		defer close(hw.done)
		for b := range hw.ch {
			if hw.err == nil {
				_, hw.err = w.Write(b)
			}
		}
	}()
	return hw
}

func (hw *handshakeWriter) send(b []byte) { hw.ch <- b }

// finish waits until everything sent was written and returns the first
// write error. It may be called more than once.
func (hw *handshakeWriter) finish() error {
	hw.once.Do(func() { close(hw.ch) })
	<-hw.done
	return hw.err
}

// handshakeConn implements HandshakeConn for a Conn during the handshake.
type handshakeConn struct {
	c  *Conn
	hw *handshakeWriter
}

func (h *handshakeConn) SendCommand(name string, data []byte) error {
	body, err := AppendCommand(make([]byte, 0, 1+len(name)+len(data)), name, data)
	if err != nil {
		return err
	}
	h.hw.send(AppendFrame(make([]byte, 0, 9+len(body)), FlagCommand, body))
	return nil
}

func (h *handshakeConn) RecvCommand() (Command, error) {
	f, err := h.c.r.ReadFrame()
	if err != nil {
		if err == io.EOF {
			err = ErrTruncated
		}
		return Command{}, fmt.Errorf("%w (during the handshake)", err)
	}
	if !f.IsCommand() {
		return Command{}, fmt.Errorf("%w: data frame during handshake", ErrUnexpectedCommand)
	}
	cmd, err := ParseCommand(f.Body)
	if err != nil {
		return Command{}, err
	}
	if cmd.Is(CommandError) {
		return Command{}, parseErrorData(cmd.Data)
	}
	return cmd, nil
}

func (h *handshakeConn) PeerGreeting() Greeting { return h.c.peer }

// Recv reads the next message and returns its frames, which the caller
// owns. Commands are handled on the way: PING is answered with PONG, PONG
// is absorbed, ERROR ends the connection with a *PeerError, unknown
// commands are counted and ignored. Any error is final: the connection is
// closed, and io.EOF means the peer closed it cleanly between messages.
func (c *Conn) Recv() ([][]byte, error) {
	for {
		msg, cmd, err := c.r.ReadMessage()
		if err != nil {
			return nil, c.fail(err)
		}
		if cmd == nil {
			return msg, nil
		}
		if err := c.handleCommand(cmd); err != nil {
			c.r.err = err
			return nil, c.fail(err)
		}
	}
}

// handleCommand processes a command received after the handshake.
func (c *Conn) handleCommand(body []byte) error {
	switch {
	case commandIs(body, CommandPing):
		ttl, ctx, err := parsePing(body[1+len(CommandPing):])
		if err != nil {
			return err
		}
		c.pings.Add(1)
		c.peerTTL.Store(int64(ttl) * int64(100*time.Millisecond))
		if c.onPing != nil {
			c.onPing(ctx)
			return nil
		}
		return c.sendPong(ctx)
	case commandIs(body, CommandPong):
		return nil
	case commandIs(body, CommandError):
		return parseErrorData(body[1+len(CommandError):])
	default:
		if _, err := ParseCommand(body); err != nil {
			return err
		}
		c.unknown.Add(1)
	}
	return nil
}

// sendPong writes a PONG echoing context and flushes it.
func (c *Conn) sendPong(context []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.w.WriteCommand(CommandPong, context); err != nil {
		return err
	}
	return c.w.Flush()
}

// fail closes the connection after a fatal read error and returns the
// error to report (ErrClosed if we closed it ourselves).
func (c *Conn) fail(err error) error {
	if c.closed.Load() {
		return ErrClosed
	}
	// Debug only: the owner (Dealer, Router or caller) gets the error
	// and decides how loud to be about it.
	c.log.Debug("zmtp connection closed", "err", err)
	c.closeWith(err)
	return err
}

func (c *Conn) closeWith(err error) {
	c.closeOnce.Do(func() {
		c.closeErr = c.nc.Close()
	})
}

// Release hands the frames of a message returned by Recv back for reuse,
// once the caller is completely done with them (it must not touch them
// afterwards). Calling it is optional: frames that are never released are
// collected by the GC. Releasing saves large allocations (bodies of
// 32 KiB and more; smaller ones are ignored) and the page faults that
// come with fresh memory. The frames of msg are set to nil.
func (c *Conn) Release(msg [][]byte) { c.r.ar.pool.put(msg) }

// Send buffers a message; every frame but the last is sent with MORE.
// Nothing reaches the network before the buffer fills or Flush is called.
// Send copies the frames into the buffer or writes them out before it
// returns, so the caller may reuse them afterwards.
func (c *Conn) Send(msg [][]byte) error {
	c.wmu.Lock()
	err := c.w.WriteMessage(msg)
	c.wmu.Unlock()
	return c.writeErr(err)
}

// Flush writes buffered messages to the network.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	err := c.w.Flush()
	c.wmu.Unlock()
	return c.writeErr(err)
}

func (c *Conn) writeErr(err error) error {
	if err != nil && c.closed.Load() {
		return ErrClosed
	}
	return err
}

// Heartbeat drives heartbeats and must be called regularly (about every
// HeartbeatInterval; Dealer and Router do this) by one goroutine at a
// time. It sends a PING to a ZMTP 3.1 peer when one is due and returns
// ErrHeartbeatTimeout when the peer sent nothing for HeartbeatTimeout after
// a PING, or for longer than the TTL it announced in its own PINGs. The
// caller should then close the connection. With HeartbeatInterval 0 it
// only enforces the peer's TTL.
func (c *Conn) Heartbeat(now time.Time) error {
	if n := c.cnt.n.Load(); n != c.hbBytes || c.hbActivity.IsZero() {
		c.hbBytes = n
		c.hbActivity = now
		c.hbWaiting = false
	}
	if ttl := time.Duration(c.peerTTL.Load()); ttl > 0 && now.Sub(c.hbActivity) > ttl {
		return fmt.Errorf("%w: silent for %v, peer's TTL %v", ErrHeartbeatTimeout, now.Sub(c.hbActivity), ttl)
	}
	if c.cfg.HeartbeatInterval <= 0 || !c.peer.SupportsHeartbeat() {
		return nil
	}
	if c.hbWaiting {
		if now.Sub(c.hbSent) >= c.cfg.HeartbeatTimeout {
			return fmt.Errorf("%w: no reply %v after PING", ErrHeartbeatTimeout, now.Sub(c.hbSent))
		}
		return nil
	}
	if now.Sub(c.hbSent) < c.cfg.HeartbeatInterval {
		return nil
	}
	c.hbSent = now
	c.hbWaiting = true
	data := appendPing(make([]byte, 0, 2), uint16(c.cfg.HeartbeatTTL/(100*time.Millisecond)), nil)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(now.Add(max(c.cfg.HeartbeatTimeout, time.Second)))
	err := c.w.WriteCommand(CommandPing, data)
	if err == nil {
		err = c.w.Flush()
	}
	_ = c.nc.SetWriteDeadline(time.Time{})
	return c.writeErr(err)
}

// Close closes the connection. It is safe to call more than once and from
// any goroutine; pending reads and writes fail with ErrClosed.
func (c *Conn) Close() error {
	c.closed.Store(true)
	c.closeWith(ErrClosed)
	return c.closeErr
}

// PeerIdentity returns the Identity property the peer sent (nil when it
// sent none or an empty one). The caller must not modify it.
func (c *Conn) PeerIdentity() []byte { return c.id }

// PeerSocketType returns the peer's Socket-Type.
func (c *Conn) PeerSocketType() SocketType { return c.typ }

// PeerMetadata returns all properties the peer sent. The caller must not
// modify it.
func (c *Conn) PeerMetadata() Metadata { return c.md }

// PeerGreeting returns the peer's greeting; its Minor is 0 for ZMTP 3.0
// peers, which get no PINGs.
func (c *Conn) PeerGreeting() Greeting { return c.peer }

// PeerMinor returns the ZMTP minor version the peer announced.
func (c *Conn) PeerMinor() uint8 { return c.peer.Minor }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr returns our network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// ConnStats are counters of one connection.
type ConnStats struct {
	BytesRead       uint64 // bytes received, greeting included
	BytesWritten    uint64 // bytes sent after the handshake
	PingsReceived   uint64 // PING commands answered
	UnknownCommands uint64 // commands ignored after the handshake
}

// Stats returns the connection's counters. It is safe to call at any time.
func (c *Conn) Stats() ConnStats {
	return ConnStats{
		BytesRead:       c.cnt.n.Load(),
		BytesWritten:    c.w.Written(),
		PingsReceived:   c.pings.Load(),
		UnknownCommands: c.unknown.Load(),
	}
}
