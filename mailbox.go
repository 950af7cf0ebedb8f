package zyre

import (
	"context"
	"errors"
	"log/slog"
	"net"

	"github.com/gozyre/zyre/internal/zmtp"
)

// mailboxBatch is how many messages the actor takes from the mailbox at once.
const mailboxBatch = 128

// mailbox is the node's ROUTER (zmtp.Router: handover, bounded queue,
// per-connection readers) plus one pump goroutine that hands batches of
// messages to the actor. The pump blocks while the actor is not taking
// them, the Router's queue fills, and its readers stop reading: a slow
// application pushes back on the peers' TCP connections.
type mailbox struct {
	r      *zmtp.Router
	msgs   chan []zmtp.Message
	free   chan []zmtp.Message // batches handed back by the actor for reuse
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// mailboxBytes is the Router's bound in bytes: an eighth of the event
// queue's, between 64 KiB and 8 MiB. Enough to keep the actor busy while
// readers refill it; the event queue is where a backlog waits. While the
// actor is paused, the pump holds one more batch taken from the Router,
// and the batch the actor took last went into the event queue past its
// bound: up to three times this beside the event queue (Config docs).
func mailboxBytes(eventQueueBytes int64) int64 {
	return min(max(eventQueueBytes/8, 64<<10), 8<<20)
}

func newMailbox(ln net.Listener, cfg Config, mech zmtp.Mechanism, log *slog.Logger) (*mailbox, error) {
	r, err := zmtp.NewRouter(ln, zmtp.RouterConfig{
		// The mailbox only reads (ZRE traffic is one-way per connection):
		// a small write buffer (PONGs) saves memory per peer.
		Conn: zmtp.Config{SocketType: zmtp.SocketRouter, Mechanism: mech, MaxMessageSize: cfg.MaxMessageSize,
			WriteBufferSize: 4 << 10, Logger: log},
		QueueLen:    1024,
		QueueBytes:  mailboxBytes(cfg.EventQueueBytes),
		NotifyClose: true, // see actor.closeNotice
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	m := &mailbox{r: r, msgs: make(chan []zmtp.Message), free: make(chan []zmtp.Message, 2), done: make(chan struct{})}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	go m.pump(log)
	return m, nil
}

func (m *mailbox) pump(log *slog.Logger) {
	defer close(m.done)
	for {
		var batch []zmtp.Message
		select {
		case batch = <-m.free:
		default:
			batch = make([]zmtp.Message, 0, mailboxBatch)
		}
		batch, err := m.r.RecvBatch(m.ctx, batch[:0])
		if err != nil {
			if !errors.Is(err, zmtp.ErrClosed) && m.ctx.Err() == nil {
				log.Warn("mailbox failed", "err", err)
			}
			return
		}
		select {
		case m.msgs <- batch:
		case <-m.ctx.Done():
			return
		}
	}
}

// recycle hands a processed batch back to the pump.
func (m *mailbox) recycle(batch []zmtp.Message) {
	clear(batch)
	select {
	case m.free <- batch[:0]:
	default:
	}
}

// close stops the Router (every connection) and the pump, and waits.
func (m *mailbox) close() {
	m.cancel()
	m.r.Close()
	<-m.done
}
