package curve

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gozyre/zyre/internal/vectors"
	"github.com/gozyre/zyre/internal/zmtp"
	"golang.org/x/crypto/nacl/box"
)

// session mirrors curve/curve_session.json.
type session struct {
	LongTermKeys map[string]struct {
		PublicZ85 string `json:"public_z85"`
		SecretZ85 string `json:"secret_z85"`
	} `json:"long_term_keys"`
	EphemeralKeys map[string]struct {
		Node      string `json:"node"`
		N         int    `json:"n"`
		SecretHex string `json:"secret_hex"`
	} `json:"ephemeral_keys"`
	Connections []struct {
		Relay  string `json:"relay"`
		Client string `json:"client"`
		Server string `json:"server"`
		Steps  []struct {
			Cmd                   string            `json:"cmd"`
			Version               []int             `json:"version"`
			ClientEphemeralPublic string            `json:"client_ephemeral_public"`
			ServerEphemeralPublic string            `json:"server_ephemeral_public"`
			ShortNonce            string            `json:"short_nonce"`
			LongNonce             string            `json:"long_nonce"`
			BoxPlainIs64Zeros     bool              `json:"box_plain_is_64_zeros"`
			CookieLen             int               `json:"cookie_len"`
			CookieEchoed          bool              `json:"cookie_echoed"`
			ClientLongTermMatches bool              `json:"client_long_term_public_matches"`
			VouchIsCprimeS        bool              `json:"vouch_is_Cprime_S"`
			Metadata              map[string]string `json:"metadata"`
		} `json:"steps"`
		DecryptedMessages []struct {
			ShortNonce string   `json:"short_nonce"`
			ZRE        string   `json:"zre"`
			Sequence   int      `json:"sequence"`
			FramesHex  []string `json:"frames_hex"`
		} `json:"decrypted_messages"`
	} `json:"connections"`
}

type curveVectors struct {
	set       *vectors.Set
	sess      session
	long      map[string]KeyPair   // by node name
	ephemeral map[[32]byte]KeyPair // by public key
}

func loadCurveVectors(t *testing.T) *curveVectors {
	t.Helper()
	set := vectors.Load(t)
	raw, err := os.ReadFile(filepath.Join(set.Dir, "curve", "curve_session.json"))
	if err != nil {
		t.Fatal(err)
	}
	v := &curveVectors{set: set, long: map[string]KeyPair{}, ephemeral: map[[32]byte]KeyPair{}}
	if err := json.Unmarshal(raw, &v.sess); err != nil {
		t.Fatal(err)
	}
	for node, k := range v.sess.LongTermKeys {
		// ParseKeyPair checks that the public key is the X25519 base-point
		// product of the secret key, as libsodium computes it.
		kp, err := ParseKeyPair(k.PublicZ85, k.SecretZ85)
		if err != nil {
			t.Fatalf("%s: %v", node, err)
		}
		v.long[node] = kp
	}
	for pubHex, e := range v.sess.EphemeralKeys {
		kp := KeyPairFromSecret(key32(t, e.SecretHex))
		if kp.Public != key32(t, pubHex) {
			t.Fatalf("ephemeral key %s (%s #%d): secret gives public %x", pubHex, e.Node, e.N, kp.Public)
		}
		v.ephemeral[kp.Public] = kp
	}
	if len(v.long) != 2 || len(v.ephemeral) != 4 || len(v.sess.Connections) != 2 {
		t.Fatalf("unexpected session file: %d long-term, %d ephemeral keys, %d connections", len(v.long), len(v.ephemeral), len(v.sess.Connections))
	}
	return v
}

// recorded is one connection of the capture, split into commands.
type recorded struct {
	clientGreeting, serverGreeting zmtp.Greeting
	clientFrames, serverFrames     []zmtp.Frame // after the greeting
	clientRaw, serverRaw           []byte
}

func (v *curveVectors) connection(t *testing.T, client, server string) recorded {
	t.Helper()
	var r recorded
	r.clientRaw = v.set.Read(t, "curve/raw_"+client+"_client_to_"+server+"_server.bin")
	r.serverRaw = v.set.Read(t, "curve/raw_"+server+"_server_to_"+client+"_client.bin")
	var err error
	if r.clientGreeting, _, err = zmtp.ParseGreeting(r.clientRaw); err != nil {
		t.Fatal(err)
	}
	if r.serverGreeting, _, err = zmtp.ParseGreeting(r.serverRaw); err != nil {
		t.Fatal(err)
	}
	r.clientFrames = splitFrames(t, r.clientRaw[zmtp.GreetingSize:])
	r.serverFrames = splitFrames(t, r.serverRaw[zmtp.GreetingSize:])
	return r
}

func command(t *testing.T, f zmtp.Frame, name string) zmtp.Command {
	t.Helper()
	if !f.IsCommand() {
		t.Fatalf("want %s command, got data frame", name)
	}
	cmd, err := zmtp.ParseCommand(f.Body)
	if err != nil || !cmd.Is(name) {
		t.Fatalf("want %s, got %q (%v)", name, cmd.Name, err)
	}
	return cmd
}

func openBox(t *testing.T, what string, boxed []byte, nonce [24]byte, peer, secret [32]byte) []byte {
	t.Helper()
	plain, ok := box.Open(nil, boxed, &nonce, &peer, &secret)
	if !ok {
		t.Fatalf("%s box does not open", what)
	}
	return plain
}

func metadataHex(md zmtp.Metadata) map[string]string {
	m := map[string]string{}
	for _, p := range md {
		m[p.Name] = hex.EncodeToString(p.Value)
	}
	return m
}

// TestVectorsOpenEveryBox opens every box of both recorded connections
// with the long-term and short-term keys from curve_session.json.
func TestVectorsOpenEveryBox(t *testing.T) {
	v := loadCurveVectors(t)
	for ci, conn := range v.sess.Connections {
		t.Run(conn.Relay, func(t *testing.T) {
			rec := v.connection(t, conn.Client, conn.Server)
			for _, g := range []zmtp.Greeting{rec.clientGreeting, rec.serverGreeting} {
				if g.Mechanism != MechanismName || g.Major != 3 || g.Minor != 1 {
					t.Fatalf("greeting %+v", g)
				}
			}
			t.Logf("as-server: client greeting %v, server greeting %v (libzmq 4.3.4)", rec.clientGreeting.AsServer, rec.serverGreeting.AsServer)
			cLong, sLong := v.long[conn.Client], v.long[conn.Server]
			steps := conn.Steps

			// HELLO: version 1.0, 72 zero bytes, C', nonce, Box[64 zeros](C'->S).
			hello := command(t, rec.clientFrames[0], CommandHello)
			if len(rec.clientFrames[0].Body) != 200 || len(hello.Data) != helloDataSize {
				t.Fatalf("HELLO body %d bytes", len(rec.clientFrames[0].Body))
			}
			if hello.Data[0] != byte(steps[0].Version[0]) || hello.Data[1] != byte(steps[0].Version[1]) || !isZero(hello.Data[2:74]) {
				t.Fatalf("HELLO version/padding % x", hello.Data[:74])
			}
			cPub := [32]byte(hello.Data[74:106])
			if hex.EncodeToString(cPub[:]) != steps[0].ClientEphemeralPublic || hex.EncodeToString(hello.Data[106:114]) != steps[0].ShortNonce {
				t.Fatal("HELLO C' or nonce differ from the JSON")
			}
			cEph, ok := v.ephemeral[cPub]
			if !ok {
				t.Fatal("client short-term key not listed")
			}
			plain := openBox(t, "HELLO", hello.Data[114:], shortNonce(noncePrefixHello, binary.BigEndian.Uint64(hello.Data[106:])), cPub, sLong.Secret)
			if len(plain) != 64 || !isZero(plain) || !steps[0].BoxPlainIs64Zeros {
				t.Fatalf("HELLO signature % x", plain)
			}

			// WELCOME: long nonce, Box[S' + cookie](S->C').
			welcome := command(t, rec.serverFrames[0], CommandWelcome)
			if len(welcome.Data) != welcomeDataSize || hex.EncodeToString(welcome.Data[:16]) != steps[1].LongNonce {
				t.Fatalf("WELCOME %d bytes, nonce %x", len(welcome.Data), welcome.Data[:16])
			}
			plain = openBox(t, "WELCOME", welcome.Data[16:], longNonce(noncePrefixWelcome, welcome.Data[:16]), sLong.Public, cEph.Secret)
			sPub := [32]byte(plain[:32])
			cookie := plain[32:]
			if hex.EncodeToString(sPub[:]) != steps[1].ServerEphemeralPublic || len(cookie) != steps[1].CookieLen {
				t.Fatal("WELCOME S' or cookie length differ from the JSON")
			}
			sEph, ok := v.ephemeral[sPub]
			if !ok {
				t.Fatal("server short-term key not listed")
			}

			// INITIATE: cookie, nonce, Box[C + vouch + metadata](C'->S').
			if rec.clientFrames[1].Flags != zmtp.FlagCommand|zmtp.FlagLong {
				t.Fatalf("INITIATE frame flags %#x, want a long command", rec.clientFrames[1].Flags)
			}
			initiate := command(t, rec.clientFrames[1], CommandInitiate)
			if !bytes.Equal(initiate.Data[:cookieSize], cookie) || !steps[2].CookieEchoed {
				t.Fatal("INITIATE does not echo the cookie")
			}
			initNonce := binary.BigEndian.Uint64(initiate.Data[cookieSize:])
			if initNonce != 2 {
				t.Fatalf("INITIATE nonce %d, want 2", initNonce)
			}
			plain = openBox(t, "INITIATE", initiate.Data[cookieSize+8:], shortNonce(noncePrefixInitiate, initNonce), cPub, sEph.Secret)
			if !bytes.Equal(plain[:32], cLong.Public[:]) || !steps[2].ClientLongTermMatches {
				t.Fatal("INITIATE does not carry the client's long-term key")
			}
			vouch := plain[32 : 32+vouchSize]
			vplain := openBox(t, "vouch", vouch[16:], longNonce(noncePrefixVouch, vouch[:16]), cLong.Public, sEph.Secret)
			if !bytes.Equal(vplain[:32], cPub[:]) || !bytes.Equal(vplain[32:], sLong.Public[:]) || !steps[2].VouchIsCprimeS {
				t.Fatal("vouch is not C' + S")
			}
			md, err := zmtp.ParseMetadata(plain[32+vouchSize:])
			if err != nil {
				t.Fatal(err)
			}
			if got, want := metadataHex(md), steps[2].Metadata; !mapsEqual(got, want) {
				t.Fatalf("INITIATE metadata %v, want %v", got, want)
			}

			// READY: nonce, Box[metadata](S'->C').
			ready := command(t, rec.serverFrames[1], CommandReady)
			if hex.EncodeToString(ready.Data[:8]) != steps[3].ShortNonce {
				t.Fatalf("READY nonce % x", ready.Data[:8])
			}
			readyNonce := binary.BigEndian.Uint64(ready.Data)
			plain = openBox(t, "READY", ready.Data[8:], shortNonce(noncePrefixReady, readyNonce), sPub, cEph.Secret)
			md, err = zmtp.ParseMetadata(plain)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := metadataHex(md), steps[3].Metadata; !mapsEqual(got, want) {
				t.Fatalf("READY metadata %v, want %v", got, want)
			}
			if len(rec.serverFrames) != 2 {
				t.Fatalf("server sent %d frames after READY", len(rec.serverFrames)-2)
			}

			// MESSAGEs: our server-side codec opens them all.
			var key [32]byte
			box.Precompute(&key, &cPub, &sEph.Secret)
			dec := newCodec(&key, false, 2, initNonce)
			type logical struct {
				nonce  uint64
				flags  zmtp.Flags
				frames [][]byte
			}
			var msgs, cmds []logical
			var cur logical
			for i, f := range rec.clientFrames[2:] {
				// libzmq numbers every frame: 3, 4, 5, … without gaps.
				if n := binary.BigEndian.Uint64(f.Body[8:]); n != initNonce+1+uint64(i) {
					t.Errorf("frame %d after INITIATE has nonce %d, want %d", i, n, initNonce+1+uint64(i))
				}
				if f.Flags != 0 || !bytes.HasPrefix(f.Body, []byte(messagePrefix)) {
					t.Fatalf("frame %d after INITIATE: flags %#x % x", i, f.Flags, f.Body[:8])
				}
				n := binary.BigEndian.Uint64(f.Body[8:])
				flags, body, err := dec.Decode(f.Flags, bytes.Clone(f.Body))
				if err != nil {
					t.Fatalf("MESSAGE %d: %v", n, err)
				}
				if flags&zmtp.FlagCommand != 0 {
					cmds = append(cmds, logical{nonce: n, flags: flags, frames: [][]byte{body}})
					continue
				}
				cur.nonce = n // the JSON lists the nonce of a message's last frame
				cur.frames = append(cur.frames, body)
				if flags&zmtp.FlagMore == 0 {
					msgs = append(msgs, cur)
					cur = logical{}
				}
			}
			want := conn.DecryptedMessages
			if len(msgs) != len(want) {
				t.Fatalf("%d messages, JSON lists %d", len(msgs), len(want))
			}
			for i, m := range msgs {
				if got := hex.EncodeToString(binary.BigEndian.AppendUint64(nil, m.nonce)); got != want[i].ShortNonce {
					t.Errorf("message %d (%s): nonce %s, want %s", i, want[i].ZRE, got, want[i].ShortNonce)
				}
				if len(m.frames) != len(want[i].FramesHex) {
					t.Fatalf("message %d (%s): %d frames, want %d", i, want[i].ZRE, len(m.frames), len(want[i].FramesHex))
				}
				for j, fr := range m.frames {
					if hex.EncodeToString(fr) != want[i].FramesHex[j] {
						t.Errorf("message %d (%s) frame %d: %x, want %s", i, want[i].ZRE, j, fr, want[i].FramesHex[j])
					}
				}
				// ZRE signature and sequence number.
				if f0 := m.frames[0]; len(f0) < 5 || f0[0] != 0xAA || f0[1] != 0xA1 || int(binary.BigEndian.Uint16(f0[4:])) != want[i].Sequence {
					t.Errorf("message %d (%s) is not ZRE #%d: % x", i, want[i].ZRE, want[i].Sequence, f0[:min(len(f0), 6)])
				}
			}
			for _, c := range cmds {
				name, _ := zmtp.ParseCommand(c.frames[0])
				t.Logf("boxed command at nonce %d: %q % x", c.nonce, name.Name, c.frames[0])
			}
			t.Logf("connection %d: %d ZRE messages, %d boxed commands", ci, len(msgs), len(cmds))
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestVectorsCommandFiles checks that the per-command files are the
// frames of the beta->alpha connection.
func TestVectorsCommandFiles(t *testing.T) {
	v := loadCurveVectors(t)
	rec := v.connection(t, "beta", "alpha")
	for _, tc := range []struct {
		file  string
		frame zmtp.Frame
	}{
		{"curve/HELLO.bin", rec.clientFrames[0]},
		{"curve/WELCOME.bin", rec.serverFrames[0]},
		{"curve/INITIATE.bin", rec.clientFrames[1]},
		{"curve/READY.bin", rec.serverFrames[1]},
		{"curve/MESSAGE_first.bin", rec.clientFrames[2]},
	} {
		got := v.set.Read(t, tc.file)
		want := zmtp.AppendFrame(nil, tc.frame.Flags, tc.frame.Body)
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the raw stream", tc.file)
		}
	}
	if g := v.set.Read(t, "curve/client_greeting.bin"); !bytes.Equal(g, rec.clientRaw[:zmtp.GreetingSize]) {
		t.Error("client_greeting.bin differs")
	}
	if g := v.set.Read(t, "curve/server_greeting.bin"); !bytes.Equal(g, rec.serverRaw[:zmtp.GreetingSize]) {
		t.Error("server_greeting.bin differs")
	}
}

// TestVectorsReplayClient runs our Client with the recorded client's keys
// (long-term and short-term, and the recorded vouch nonce) against the
// recorded server: our HELLO and INITIATE must equal the recorded bytes,
// and our codec must produce the recorded MESSAGE frames byte for byte.
func TestVectorsReplayClient(t *testing.T) {
	v := loadCurveVectors(t)
	for _, conn := range v.sess.Connections {
		t.Run(conn.Relay, func(t *testing.T) {
			rec := v.connection(t, conn.Client, conn.Server)
			cLong, sLong := v.long[conn.Client], v.long[conn.Server]
			hello := command(t, rec.clientFrames[0], CommandHello)
			cEph := v.ephemeral[[32]byte(hello.Data[74:106])]
			welcome := command(t, rec.serverFrames[0], CommandWelcome)
			wplain := openBox(t, "WELCOME", welcome.Data[16:], longNonce(noncePrefixWelcome, welcome.Data[:16]), sLong.Public, cEph.Secret)
			sEph := v.ephemeral[[32]byte(wplain[:32])]
			initiate := command(t, rec.clientFrames[1], CommandInitiate)
			iplain := openBox(t, "INITIATE", initiate.Data[cookieSize+8:], shortNonce(noncePrefixInitiate, 2), cEph.Public, sEph.Secret)
			vouchNonce := iplain[32:48]
			md, err := zmtp.ParseMetadata(iplain[32+vouchSize:])
			if err != nil {
				t.Fatal(err)
			}

			client := &Client{
				Key:       cLong,
				ServerKey: sLong.Public,
				Rand:      bytes.NewReader(append(bytes.Clone(cEph.Secret[:]), vouchNonce...)),
			}
			hc := &fakeHC{in: [][]byte{rec.serverFrames[0].Body, rec.serverFrames[1].Body}}
			peer, fc, err := client.Handshake(t.Context(), hc, md)
			if err != nil {
				t.Fatal(err)
			}
			if len(hc.sent) != 2 {
				t.Fatalf("sent %d commands", len(hc.sent))
			}
			for i, f := range rec.clientFrames[:2] {
				if got := commandBody(t, hc.sent[i]); !bytes.Equal(got, f.Body) {
					t.Errorf("our %s differs from the recorded one", hc.sent[i].Name)
				}
			}
			if k, ok := PeerKey(peer); !ok || k != sLong.Public {
				t.Errorf("PeerKey %x, %v", k, ok)
			}
			if st, _ := peer.Get(zmtp.PropSocketType); string(st) != "ROUTER" {
				t.Errorf("server Socket-Type %q", st)
			}

			// Re-encode every recorded MESSAGE with our client codec at the
			// recorded nonce: the bytes must match exactly.
			enc := fc.(*codec)
			var key [32]byte
			box.Precompute(&key, &cEph.Public, &sEph.Secret)
			dec := newCodec(&key, false, 2, 2)
			for i, f := range rec.clientFrames[2:] {
				n := binary.BigEndian.Uint64(f.Body[8:])
				flags, body, err := dec.Decode(f.Flags, bytes.Clone(f.Body))
				if err != nil {
					t.Fatal(err)
				}
				enc.sendNext = n
				got, err := enc.AppendEncoded(nil, flags, body)
				if err != nil {
					t.Fatal(err)
				}
				if want := zmtp.AppendFrame(nil, f.Flags, f.Body); !bytes.Equal(got, want) {
					t.Fatalf("MESSAGE %d (nonce %d): our encoding differs", i, n)
				}
			}
		})
	}
}

// TestVectorsReplayServer runs our Server with the recorded server's
// long-term keys and short-term secret against the recorded client: it
// accepts HELLO and answers with a WELCOME the recorded client can open,
// and refuses the recorded INITIATE because its cookie was sealed by the
// recording server's cookie key, not ours.
func TestVectorsReplayServer(t *testing.T) {
	v := loadCurveVectors(t)
	for _, conn := range v.sess.Connections {
		t.Run(conn.Relay, func(t *testing.T) {
			rec := v.connection(t, conn.Client, conn.Server)
			sLong := v.long[conn.Server]
			hello := command(t, rec.clientFrames[0], CommandHello)
			cEph := v.ephemeral[[32]byte(hello.Data[74:106])]
			welcome := command(t, rec.serverFrames[0], CommandWelcome)
			wplain := openBox(t, "WELCOME", welcome.Data[16:], longNonce(noncePrefixWelcome, welcome.Data[:16]), sLong.Public, cEph.Secret)
			sEph := v.ephemeral[[32]byte(wplain[:32])]

			rnd := append(bytes.Clone(sEph.Secret[:]), make([]byte, 64)...)
			server := &Server{Key: sLong, Rand: bytes.NewReader(rnd)}
			hc := &fakeHC{in: [][]byte{rec.clientFrames[0].Body, rec.clientFrames[1].Body}}
			_, _, err := server.Handshake(t.Context(), hc, zmtp.Metadata{{Name: zmtp.PropSocketType, Value: []byte("ROUTER")}})
			if !errors.Is(err, ErrCrypto) {
				t.Fatalf("recorded INITIATE: %v, want ErrCrypto (foreign cookie)", err)
			}
			if len(hc.sent) != 1 || !hc.sent[0].Is(CommandWelcome) {
				t.Fatalf("sent %v", hc.sent)
			}
			ours := hc.sent[0].Data
			plain := openBox(t, "our WELCOME", ours[16:], longNonce(noncePrefixWelcome, ours[:16]), sLong.Public, cEph.Secret)
			if !bytes.Equal(plain[:32], sEph.Public[:]) {
				t.Fatal("our WELCOME does not carry S'")
			}
		})
	}
}
