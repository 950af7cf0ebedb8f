package curve

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/gozyre/zyre/internal/vectors"
	"github.com/gozyre/zyre/internal/zmtp"
)

// chanHC connects two mechanisms in memory.
type chanHC struct {
	in   <-chan zmtp.Command
	out  chan<- zmtp.Command
	sent []zmtp.Command
}

func (c *chanHC) SendCommand(name string, data []byte) error {
	cmd := zmtp.Command{Name: name, Data: bytes.Clone(data)}
	c.sent = append(c.sent, cmd)
	c.out <- cmd
	return nil
}

func (c *chanHC) RecvCommand() (zmtp.Command, error) {
	cmd, ok := <-c.in
	if !ok {
		return zmtp.Command{}, zmtp.ErrTruncated
	}
	return cmd, nil
}

func (c *chanHC) PeerGreeting() zmtp.Greeting {
	return zmtp.Greeting{Major: 3, Minor: 1, Mechanism: MechanismName}
}

// transcript is a complete handshake between deterministic mechanisms:
// fuzzMechs with fresh Rand readers reproduce it exactly.
type transcript struct {
	client, server []zmtp.Command // what each side sent
}

var fuzzLocalClient = zmtp.Metadata{{Name: zmtp.PropSocketType, Value: []byte("DEALER")}, {Name: zmtp.PropIdentity, Value: dealerIdentity(1)}}
var fuzzLocalServer = zmtp.Metadata{{Name: zmtp.PropSocketType, Value: []byte("ROUTER")}, {Name: zmtp.PropIdentity, Value: []byte{}}}

// fuzzMechs returns a client and server with fixed keys and fresh
// deterministic randomness.
func fuzzMechs(t testing.TB) (*Client, *Server) {
	return mechPair(t)
}

func makeTranscript(t testing.TB) transcript {
	t.Helper()
	client, server := fuzzMechs(t)
	c2s, s2c := make(chan zmtp.Command, 4), make(chan zmtp.Command, 4)
	chc := &chanHC{in: s2c, out: c2s}
	shc := &chanHC{in: c2s, out: s2c}
	var wg sync.WaitGroup
	var serr error
	wg.Go(func() { _, _, serr = server.Handshake(t.Context(), shc, fuzzLocalServer) })
	_, _, cerr := client.Handshake(t.Context(), chc, fuzzLocalClient)
	wg.Wait()
	if cerr != nil || serr != nil {
		t.Fatalf("transcript handshake: %v, %v", cerr, serr)
	}
	return transcript{client: chc.sent, server: shc.sent}
}

// framesOf encodes commands as a stream of ZMTP command frames.
func framesOf(t testing.TB, cmds []zmtp.Command) []byte {
	var b []byte
	for _, c := range cmds {
		b = zmtp.AppendFrame(b, zmtp.FlagCommand, commandBody(t, c))
	}
	return b
}

// streamHC serves the frames of a fuzzed byte stream as Conn would: data
// frames and malformed commands are errors, ERROR becomes *PeerError.
type streamHC struct {
	fakeHC
	data []byte
}

func (s *streamHC) RecvCommand() (zmtp.Command, error) {
	f, n, err := zmtp.ParseFrame(s.data, 1<<20)
	if err != nil {
		return zmtp.Command{}, err
	}
	s.data = s.data[n:]
	if !f.IsCommand() {
		return zmtp.Command{}, zmtp.ErrUnexpectedCommand
	}
	s.fakeHC.in = [][]byte{f.Body}
	return s.fakeHC.RecvCommand()
}

func addVectorSeeds(f *testing.F, client bool) {
	if vectors.Dir() == "" {
		return
	}
	set := vectors.Load(f)
	for _, name := range []string{"beta_client_to_alpha_server", "alpha_client_to_beta_server", "alpha_server_to_beta_client", "beta_server_to_alpha_client"} {
		if bytes.Contains([]byte(name), []byte("_client_to_")) != client {
			continue
		}
		raw := set.Read(f, "curve/raw_"+name+".bin")
		f.Add(raw[zmtp.GreetingSize:])
	}
}

// FuzzServerHandshake feeds arbitrary client bytes to a Server. It must
// never panic, and it may only send WELCOME for the genuine HELLO, only
// call Authorize with the genuine client key, and only succeed (sending
// READY) for the genuine transcript.
func FuzzServerHandshake(f *testing.F) {
	tr := makeTranscript(f)
	f.Add(framesOf(f, tr.client))
	f.Add(framesOf(f, tr.client[:1]))
	f.Add(framesOf(f, []zmtp.Command{tr.client[0], {Name: "ERROR", Data: []byte("\x03bye")}}))
	f.Add(append(framesOf(f, tr.client[:1]), zmtp.AppendFrame(nil, 0, []byte("data"))...))
	addVectorSeeds(f, true)
	genuineHello := tr.client[0].Data
	f.Fuzz(func(t *testing.T, data []byte) {
		ck, _ := fuzzMechs(t)
		_, server := fuzzMechs(t)
		var authKeys [][KeySize]byte
		server.Authorize = func(k [KeySize]byte, _ zmtp.Metadata) error {
			authKeys = append(authKeys, k)
			return nil
		}
		hc := &streamHC{data: data}
		md, fc, err := server.Handshake(t.Context(), hc, fuzzLocalServer)
		sent := hc.sent
		if len(sent) > 0 {
			if !sent[0].Is(CommandWelcome) {
				t.Fatalf("first command sent: %s", sent[0].Name)
			}
			// HELLO's padding is not authenticated; C', nonce and box are.
			in, _, _ := zmtp.ParseFrame(data, -1)
			hello, _ := zmtp.ParseCommand(in.Body)
			if len(hello.Data) != helloDataSize || !bytes.Equal(hello.Data[74:], genuineHello[74:]) {
				t.Fatal("WELCOME sent for a forged HELLO")
			}
		}
		for _, k := range authKeys {
			if k != ck.Key.Public {
				t.Fatalf("Authorize called with unproven key %x", k)
			}
		}
		if err != nil {
			if md != nil || fc != nil {
				t.Fatal("failed handshake returned metadata or codec")
			}
			if len(sent) > 1 {
				t.Fatalf("failed handshake sent %d commands", len(sent))
			}
			return
		}
		if len(sent) != 2 || !sent[1].Is(CommandReady) || len(authKeys) != 1 {
			t.Fatalf("successful handshake sent %d commands, Authorize called %d times", len(sent), len(authKeys))
		}
		if k, ok := PeerKey(md); !ok || k != ck.Key.Public {
			t.Fatalf("PeerKey %x, %v", k, ok)
		}
		if fc == nil {
			t.Fatal("no codec")
		}
	})
}

// FuzzClientHandshake feeds arbitrary server bytes to a Client. It must
// never panic, may only send INITIATE after the genuine WELCOME, and may
// only succeed for the genuine transcript.
func FuzzClientHandshake(f *testing.F) {
	tr := makeTranscript(f)
	f.Add(framesOf(f, tr.server))
	f.Add(framesOf(f, tr.server[:1]))
	f.Add(framesOf(f, []zmtp.Command{tr.server[0], {Name: "ERROR", Data: []byte("\x03400")}}))
	f.Add(append(framesOf(f, tr.server[:1]), zmtp.AppendFrame(nil, 0, []byte("data"))...))
	addVectorSeeds(f, false)
	genuineWelcome := tr.server[0].Data
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := fuzzMechs(t)
		hc := &streamHC{data: data}
		md, fc, err := client.Handshake(t.Context(), hc, fuzzLocalClient)
		sent := hc.sent
		if len(sent) == 0 || !sent[0].Is(CommandHello) {
			t.Fatal("HELLO not sent first")
		}
		if len(sent) > 1 {
			in, _, _ := zmtp.ParseFrame(data, -1)
			welcome, _ := zmtp.ParseCommand(in.Body)
			if !sent[1].Is(CommandInitiate) || !bytes.Equal(welcome.Data, genuineWelcome) {
				t.Fatal("INITIATE sent for a forged WELCOME")
			}
		}
		if err != nil {
			if md != nil || fc != nil {
				t.Fatal("failed handshake returned metadata or codec")
			}
			var pe *zmtp.PeerError
			if errors.As(err, &pe) && !errors.Is(err, ErrRejected) {
				t.Fatalf("peer ERROR not reported as ErrRejected: %v", err)
			}
			return
		}
		if len(sent) != 2 {
			t.Fatalf("successful handshake sent %d commands", len(sent))
		}
		if k, ok := PeerKey(md); !ok || k != server.Key.Public {
			t.Fatalf("PeerKey %x, %v", k, ok)
		}
		if fc == nil {
			t.Fatal("no codec")
		}
	})
}

// FuzzDecode feeds arbitrary MESSAGE frames to a codec. It must never
// panic; what it accepts must be exactly what the peer's encoder makes
// for that nonce (nothing forged gets through), and a replay of an
// accepted frame must fail with ErrNonce.
func FuzzDecode(f *testing.F) {
	cli, _ := codecPair()
	for _, tc := range []struct {
		flags zmtp.Flags
		body  []byte
	}{
		{0, nil}, {zmtp.FlagMore, []byte("more")}, {zmtp.FlagCommand, []byte("\x04PING\x00\x0a")}, {0, pattern(300, 1)},
	} {
		wire, err := cli.AppendEncoded(nil, tc.flags, tc.body)
		if err != nil {
			f.Fatal(err)
		}
		fr, _, _ := zmtp.ParseFrame(wire, -1)
		f.Add(byte(fr.Flags), fr.Body)
	}
	f.Add(byte(zmtp.FlagCommand), []byte("\x05ERROR\x03bye"))
	f.Fuzz(func(t *testing.T, flags byte, body []byte) {
		_, srv := codecPair()
		in := bytes.Clone(body)
		gotFlags, got, err := srv.Decode(zmtp.Flags(flags), in)
		if err != nil {
			if srv.recvLast != 2 {
				t.Fatal("a refused frame moved the nonce window")
			}
			return
		}
		// Re-encode with the peer's encoder at the same nonce: the bytes
		// must be identical to what was accepted.
		enc, _ := codecPair()
		enc.sendNext = srv.recvLast
		wire, err := enc.AppendEncoded(nil, gotFlags, got)
		if err != nil {
			t.Fatal(err)
		}
		fr, _, _ := zmtp.ParseFrame(wire, -1)
		if !bytes.Equal(fr.Body, body) || fr.Flags&^zmtp.FlagLong != zmtp.Flags(flags)&^zmtp.FlagLong {
			t.Fatal("accepted a frame that its sender would not have produced")
		}
		if _, _, err := srv.Decode(zmtp.Flags(flags), bytes.Clone(body)); !errors.Is(err, ErrNonce) {
			t.Fatalf("replay: %v, want ErrNonce", err)
		}
	})
}
