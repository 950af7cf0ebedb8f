package zyre

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gozyre/zyre/internal/zmtp"
	"github.com/gozyre/zyre/internal/zre"
)

// inboundMsg is one message from the mailbox, or an activity report.
type inboundMsg struct {
	identity []byte
	frames   [][]byte
	activity bool     // bytes arrived from a peer whose message is held back
	from     zre.UUID // for activity
}

// mailbox is the node's ROUTER: it accepts ZMTP connections, reads them
// and hands (identity, frames) to the actor through a bounded channel, so
// that a slow actor pushes back on the peers' TCP connections. A new
// connection presenting an identity already connected takes over
// (ROUTER_HANDOVER, as C Zyre sets it).
type mailbox struct {
	ln   net.Listener
	zcfg zmtp.Config
	log  *slog.Logger
	msgs chan inboundMsg
	quit chan struct{}
	ctx  context.Context // ends at close: bounds handshakes in progress
	stop context.CancelFunc

	mu    sync.Mutex
	conns map[*zmtp.Conn]struct{}
	byID  map[string]*zmtp.Conn
	wg    sync.WaitGroup
	stats *counters
}

func newMailbox(ln net.Listener, id PeerID, cfg Config, log *slog.Logger, stats *counters) *mailbox {
	m := &mailbox{
		ln: ln,
		zcfg: zmtp.Config{
			SocketType:     zmtp.SocketRouter,
			MaxMessageSize: cfg.MaxMessageSize,
			Logger:         log,
		},
		log:   log,
		msgs:  make(chan inboundMsg, 256),
		quit:  make(chan struct{}),
		conns: make(map[*zmtp.Conn]struct{}),
		byID:  make(map[string]*zmtp.Conn),
		stats: stats,
	}
	m.ctx, m.stop = context.WithCancel(context.Background())
	m.wg.Go(m.accept)
	return m
}

func (m *mailbox) accept() {
	var tempDelay time.Duration
	for {
		nc, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.quit:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failure (for example out of file descriptors): back off.
			tempDelay = max(5*time.Millisecond, min(2*tempDelay, time.Second))
			m.log.Warn("mailbox accept failed", "err", err, "retry", tempDelay)
			select {
			case <-time.After(tempDelay):
			case <-m.quit:
				return
			}
			continue
		}
		tempDelay = 0
		m.wg.Go(func() { m.serve(nc) })
	}
}

func (m *mailbox) serve(nc net.Conn) {
	ctx, cancel := context.WithTimeout(m.ctx, 10*time.Second)
	c, err := zmtp.Handshake(ctx, nc, m.zcfg)
	cancel()
	if err != nil {
		nc.Close()
		m.stats.handshakesFailed.Add(1)
		m.log.Debug("mailbox handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
		return
	}
	id := c.PeerIdentity()
	if !m.register(c, id) {
		c.Close()
		return
	}
	defer m.unregister(c, id)
	for {
		frames, err := c.Recv()
		if err != nil {
			select {
			case <-m.quit:
			default:
				if !errors.Is(err, net.ErrClosed) {
					m.log.Debug("mailbox connection ended", "remote", nc.RemoteAddr().String(), "err", err)
				}
				if errors.Is(err, zmtp.ErrTooLarge) {
					m.log.Warn("peer sent a message over MaxMessageSize: connection closed", "remote", nc.RemoteAddr().String(), "err", err)
				}
			}
			return
		}
		select {
		case m.msgs <- inboundMsg{identity: id, frames: frames}:
		case <-m.quit:
			return
		}
	}
}

func (m *mailbox) register(c *zmtp.Conn, id []byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.quit:
		return false
	default:
	}
	m.conns[c] = struct{}{}
	if len(id) > 0 {
		if old := m.byID[string(id)]; old != nil {
			// Handover: the newest connection with this identity wins.
			old.Close()
		}
		m.byID[string(id)] = c
	}
	return true
}

func (m *mailbox) unregister(c *zmtp.Conn, id []byte) {
	m.mu.Lock()
	delete(m.conns, c)
	if cur := m.byID[string(id)]; cur == c {
		delete(m.byID, string(id))
	}
	m.mu.Unlock()
	c.Close()
}

// close stops accepting, closes every connection and waits for the readers.
func (m *mailbox) close() {
	m.stop()
	m.mu.Lock()
	close(m.quit)
	for c := range m.conns {
		c.Close()
	}
	m.mu.Unlock()
	m.ln.Close()
	m.wg.Wait()
}
