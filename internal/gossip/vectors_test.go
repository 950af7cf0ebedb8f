package gossip

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/vectors"
	"github.com/gozyre/zyre/internal/zmtp"
)

// captureFrames splits a captured zgossip TCP stream (ZMTP greeting, READY,
// then messages) into the gossip frames. It checks what the capture shows
// about framing: every message is exactly one frame, with no routing-id
// frame on the wire in either direction (a ROUTER's identity frame exists
// only inside libzmq), and the frames re-frame to the stream byte for byte.
func captureFrames(t testing.TB, raw []byte, socketType string) [][]byte {
	t.Helper()
	g, n, err := zmtp.ParseGreeting(raw)
	if err != nil {
		t.Fatalf("greeting: %v", err)
	}
	if g.Mechanism != "NULL" || g.Major != 3 {
		t.Fatalf("greeting: %+v", g)
	}
	r := zmtp.NewFrameReader(bytes.NewReader(raw[n:]), 0, 0)
	_, cmd, err := r.ReadMessage()
	if err != nil || cmd == nil {
		t.Fatalf("READY: %v (cmd %x)", err, cmd)
	}
	c, err := zmtp.ParseCommand(cmd)
	if err != nil || !c.Is("READY") || !bytes.Contains(c.Data, []byte(socketType)) {
		t.Fatalf("READY command: %+v, %v", c, err)
	}
	var frames [][]byte
	var reframed []byte
	for {
		msg, cmd, err := r.ReadMessage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if cmd != nil {
			t.Fatalf("unexpected command after READY: %x", cmd)
		}
		if len(msg) != 1 {
			t.Fatalf("gossip message with %d frames", len(msg))
		}
		frames = append(frames, msg[0])
		reframed = zmtp.AppendFrame(reframed, 0, msg[0])
	}
	// The stream tail is exactly the frames we read, framed again.
	if !bytes.HasSuffix(raw, reframed) {
		t.Fatal("re-framed messages do not reproduce the end of the stream")
	}
	return frames
}

func TestCapturedStreams(t *testing.T) {
	set := vectors.Load(t)
	beta := &Publish{Key: "258FA6BD6E8842DC93F461DEC301ECA4", Value: "tcp://127.0.0.1:38893"}
	alpha := &Publish{Key: "4EDFE427B2C44582BECE66BA7A7C7B39", Value: "tcp://127.0.0.1:33305"}
	for _, tc := range []struct {
		file, socket string
		want         []Message
	}{
		// beta's client: HELLO, its own tuple, then alpha's tuple echoed
		// back (czmq forwards every new tuple to every remote, including
		// the one it came from).
		{"gossip/raw_client_to_hub.bin", "DEALER", []Message{&Hello{}, beta, alpha}},
		// alpha's hub: its own tuple in answer to HELLO, then beta's tuple
		// forwarded back to beta (czmq broadcasts to the source as well).
		{"gossip/raw_hub_to_client.bin", "ROUTER", []Message{alpha, beta}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			frames := captureFrames(t, set.Read(t, tc.file), tc.socket)
			if len(frames) != len(tc.want) {
				t.Fatalf("%d messages, want %d", len(frames), len(tc.want))
			}
			for i, f := range frames {
				m, err := Parse(f)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if !reflect.DeepEqual(m, tc.want[i]) {
					t.Fatalf("message %d = %#v, want %#v", i, m, tc.want[i])
				}
				// czmq sends TTL 0 on every PUBLISH.
				if p, ok := m.(*Publish); ok && p.TTL != 0 {
					t.Fatalf("message %d: TTL %d, czmq sends 0", i, p.TTL)
				}
				enc, err := m.Append(nil)
				if err != nil || !bytes.Equal(enc, f) {
					t.Fatalf("message %d re-encodes to %x, %v; want %x", i, enc, err, f)
				}
			}
		})
	}
}

// TestCaptureReplayClient feeds the hub's side of the capture to our
// client engine playing beta: alpha's tuple is delivered (with no expiry,
// since czmq sent TTL 0), the echo of our own tuple is ignored.
func TestCaptureReplayClient(t *testing.T) {
	set := vectors.Load(t)
	frames := captureFrames(t, set.Read(t, "gossip/raw_hub_to_client.bin"), "ROUTER")
	r := newRig(t, Config{})
	r.step(PublishOwn{Key: "258FA6BD6E8842DC93F461DEC301ECA4", Value: "tcp://127.0.0.1:38893"})
	r.expect(r.step(RemoteUp{Conn: 1}),
		Send{1, &Hello{}},
		Send{1, &Publish{Key: "258FA6BD6E8842DC93F461DEC301ECA4", Value: "tcp://127.0.0.1:38893", TTL: 30000}})
	var outs []Output
	for _, f := range frames {
		m, err := Parse(f)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, r.step(MessageIn{Conn: 1, Msg: m})...)
	}
	r.expect(outs, Deliver{"4EDFE427B2C44582BECE66BA7A7C7B39", "tcp://127.0.0.1:33305"})
	if c := r.e.Counters(); c.OwnKeyConflicts != 1 {
		t.Fatalf("own echo not counted: %+v", c)
	}
	tp := r.e.Tuples()
	if len(tp) != 2 || !tp[0].Own || tp[1].Own || !tp[1].Expires.IsZero() {
		t.Fatalf("tuples = %+v", tp)
	}
	// A czmq tuple never expires by time.
	r.advance(time.Hour)
	if len(r.e.Tuples()) != 2 {
		t.Fatalf("czmq tuple expired: %+v", r.e.Tuples())
	}
}

// TestCaptureReplayServer feeds the client's side of the capture to our
// server engine playing alpha's hub.
func TestCaptureReplayServer(t *testing.T) {
	set := vectors.Load(t)
	frames := captureFrames(t, set.Read(t, "gossip/raw_client_to_hub.bin"), "DEALER")
	r := newRig(t, Config{})
	r.step(PublishOwn{Key: "4EDFE427B2C44582BECE66BA7A7C7B39", Value: "tcp://127.0.0.1:33305"})
	r.step(ClientUp{Conn: 7})
	var outs []Output
	for _, f := range frames {
		m, err := Parse(f)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, r.step(MessageIn{Conn: 7, Msg: m})...)
	}
	r.expect(outs,
		// HELLO: every tuple (our own, with our TTL).
		Send{7, &Publish{Key: "4EDFE427B2C44582BECE66BA7A7C7B39", Value: "tcp://127.0.0.1:33305", TTL: 30000}},
		// beta's tuple: delivered; no other client to forward it to, and
		// not echoed to its source. Our own tuple coming back is ignored.
		Deliver{"258FA6BD6E8842DC93F461DEC301ECA4", "tcp://127.0.0.1:38893"})
}
