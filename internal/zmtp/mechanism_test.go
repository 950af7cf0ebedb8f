package zmtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// toyMechanism exercises the Mechanism and FrameCodec interfaces the way
// CURVE will: a handshake of its own commands, metadata in its last
// command, and every later frame wrapped in a data frame (outer flags 0)
// whose body is "\x07MESSAGE", the real flags, and the scrambled body.
type toyMechanism struct{ server bool }

func (m toyMechanism) Name() string   { return "TOY" }
func (m toyMechanism) AsServer() bool { return m.server }

func (m toyMechanism) Handshake(_ context.Context, hc HandshakeConn, local Metadata) (Metadata, FrameCodec, error) {
	if g := hc.PeerGreeting(); g.AsServer == m.server {
		return nil, nil, fmt.Errorf("both sides as-server=%v", m.server)
	}
	md, err := AppendMetadata(nil, local)
	if err != nil {
		return nil, nil, err
	}
	// The client speaks first; the server answers (request/response, as
	// CURVE's HELLO/WELCOME/INITIATE/READY).
	if !m.server {
		if err := hc.SendCommand("HELLO", []byte("toy")); err != nil {
			return nil, nil, err
		}
	}
	cmd, err := hc.RecvCommand()
	if err != nil {
		return nil, nil, err
	}
	if m.server {
		if !cmd.Is("HELLO") {
			return nil, nil, fmt.Errorf("%w: %q", ErrUnexpectedCommand, cmd.Name)
		}
		if err := hc.SendCommand("WELCOME", md); err != nil {
			return nil, nil, err
		}
		if cmd, err = hc.RecvCommand(); err != nil {
			return nil, nil, err
		}
		if !cmd.Is("INITIATE") {
			return nil, nil, fmt.Errorf("%w: %q", ErrUnexpectedCommand, cmd.Name)
		}
	} else {
		if !cmd.Is("WELCOME") {
			return nil, nil, fmt.Errorf("%w: %q", ErrUnexpectedCommand, cmd.Name)
		}
		if err := hc.SendCommand("INITIATE", md); err != nil {
			return nil, nil, err
		}
	}
	peer, err := ParseMetadata(cmd.Data)
	if err != nil {
		return nil, nil, err
	}
	return peer, &toyCodec{}, nil
}

type toyCodec struct{ frames int }

const toyPrefix = "\x07MESSAGE"

func (c *toyCodec) AppendEncoded(dst []byte, flags Flags, body []byte) ([]byte, error) {
	c.frames++
	n := len(toyPrefix) + 1 + len(body)
	dst = AppendFrameHeader(dst, 0, n)
	dst = append(dst, toyPrefix...)
	dst = append(dst, byte(flags))
	for _, b := range body {
		dst = append(dst, b^0x5A)
	}
	return dst, nil
}

func (c *toyCodec) Decode(flags Flags, body []byte) (Flags, []byte, error) {
	if flags != 0 || len(body) < len(toyPrefix)+1 || string(body[:len(toyPrefix)]) != toyPrefix {
		return 0, nil, errors.New("not a MESSAGE")
	}
	inner := body[len(toyPrefix)+1:]
	for i := range inner {
		inner[i] ^= 0x5A
	}
	return Flags(body[len(toyPrefix)]), inner, nil
}

func TestMechanismAndCodec(t *testing.T) {
	r := startRouter(t, RouterConfig{Conn: Config{Mechanism: toyMechanism{server: true}, HeartbeatInterval: 20 * time.Millisecond}})
	id := testIdentity()
	d := startDealer(t, DealerConfig{
		Conn: Config{Identity: id, Mechanism: toyMechanism{}, HeartbeatInterval: 20 * time.Millisecond},
		Dial: dialTo(r.Addr()),
	})
	msgs := [][][]byte{
		{[]byte("one")},
		{[]byte("multi"), {}, bytes.Repeat([]byte{7}, 300), bytes.Repeat([]byte{8}, 70000)},
	}
	for _, m := range msgs {
		if err := d.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range msgs {
		m := recvTimeout(t, r)
		if !bytes.Equal(m.Identity, id) || len(m.Frames) != len(want) {
			t.Fatalf("message %d: identity %x, %d frames", i, m.Identity, len(m.Frames))
		}
		for j := range want {
			if !bytes.Equal(m.Frames[j], want[j]) {
				t.Fatalf("message %d frame %d differs", i, j)
			}
		}
	}
	// PINGs and PONGs travel through the codec as command frames.
	deadline := time.Now().Add(10 * time.Second)
	for d.Conn().Stats().PingsReceived < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no PINGs through the codec")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d.Err() != nil || r.Stats().Active != 1 {
		t.Fatalf("dealer %v, router %+v", d.Err(), r.Stats())
	}
	if d.Conn().Stats().UnknownCommands != 0 {
		t.Fatal("commands not recognised through the codec")
	}

	// A NULL peer cannot talk to a TOY router.
	nd := startDealer(t, DealerConfig{Conn: Config{Identity: []byte{1, 2}}, Dial: dialTo(r.Addr())})
	<-nd.Done()
	if !errors.Is(nd.Err(), ErrMechanismMismatch) && !errors.Is(nd.Err(), net.ErrClosed) {
		t.Logf("NULL dealer against TOY router: %v", nd.Err())
	}
	if nd.Err() == nil {
		t.Fatal("mismatched mechanism connected")
	}
}
