package interop

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/zmtp"
)

// rawDealerHandshake returns the bytes a ZMTP 3.1 DEALER with identity id
// sends to open a NULL connection: greeting and READY.
func rawDealerHandshake(id []byte) []byte {
	b := []byte{0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1}
	b = append(b, "NULL"...)
	b = append(b, make([]byte, 64-len(b))...)
	var ready []byte
	ready = append(ready, 5)
	ready = append(ready, "READY"...)
	for _, p := range [][2]string{{"Socket-Type", "DEALER"}, {"Identity", string(id)}} {
		ready = append(ready, byte(len(p[0])))
		ready = append(ready, p[0]...)
		ready = binary.BigEndian.AppendUint32(ready, uint32(len(p[1])))
		ready = append(ready, p[1]...)
	}
	b = append(b, 0x04, byte(len(ready)))
	return append(b, ready...)
}

// TestRouterDeliversMessageFollowedByPing reproduces what
// TestHeartbeatLibzmqDealerToOurRouter hits with libzmq now and then: when
// a data message and a PING command reach the Router in the same read and
// the peer then sends nothing but more PINGs (an idle libzmq DEALER with
// ZMQ_HEARTBEAT_IVL), the message must still be delivered.
//
// Router.readLoop only pushes its batch when messageBuffered() reports
// that the next ReadMessage would block; messageBuffered() answers true
// for a buffered command frame, but Conn.Recv absorbs commands (PING is
// answered with PONG) and then blocks on the network with the batch held
// back until the next data message, which may never come.
func TestRouterDeliversMessageFollowedByPing(t *testing.T) {
	ctx := testCtx(t)
	r, err := zmtp.NewRouter(listen(t), zmtp.RouterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	go func() { // drain the Router's greeting, READY and PONGs
		buf := make([]byte, 4096)
		for {
			if _, err := nc.Read(buf); err != nil {
				return
			}
		}
	}()
	id := newID()
	ping := []byte{0x04, 0x07, 0x04, 'P', 'I', 'N', 'G', 0, 0}
	b := rawDealerHandshake(id)
	b = append(b, 0x00, 5, 'h', 'e', 'l', 'l', 'o') // one data message
	b = append(b, ping...)                          // and a PING, in one write
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	// Keep the connection alive as a heartbeating peer does, without data.
	go func() {
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				if _, err := nc.Write(ping); err != nil {
					return
				}
			}
		}
	}()
	// A bound against a hang, not a timing assertion: the message is
	// already in the Router's buffer.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := r.Recv(rctx)
	if err != nil {
		t.Fatalf("message followed by a PING was not delivered: %v (stats %+v)", err, r.Stats())
	}
	if string(m.Identity) != string(id) || len(m.Frames) != 1 || string(m.Frames[0]) != "hello" {
		t.Fatalf("got %x %q", m.Identity, m.Frames)
	}
}
