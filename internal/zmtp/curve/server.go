package curve

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/gozyre/zyre/internal/zmtp"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
)

// Server is the server side of the CURVE mechanism (in ZRE, the ROUTER
// mailbox that peers connect to). It implements zmtp.Mechanism. One Server
// serves any number of connections at once; it is not modified by
// Handshake.
//
// Randomness is read in this order for each handshake: 32 bytes for the
// short-term secret key S', 32 bytes for the cookie key K, 16 bytes for
// the cookie nonce, 16 bytes for the WELCOME nonce. The cookie key lives
// only as long as the handshake.
type Server struct {
	// Key is our long-term key pair. Required.
	Key KeyPair
	// Authorize, if set, decides whether a client may connect. It is
	// called once per handshake, after the client proved (with its
	// vouch) that it holds the secret key of clientKey, with the
	// metadata the client sent in INITIATE (Socket-Type, Identity, …),
	// so it can also check that an identity belongs to that key. A
	// non-nil error refuses the client: it gets an ERROR command with
	// reason "400" (libzmq's ZAP status code, reported by libzmq
	// clients as an authentication failure) and Handshake fails with an
	// *AuthError. Nil accepts every client that completes the
	// handshake, as libzmq does without a ZAP handler.
	//
	// It runs on the connection's handshake goroutine, concurrently for
	// different connections, and bounds the handshake's duration: it
	// should not block for long.
	Authorize func(clientKey [KeySize]byte, metadata zmtp.Metadata) error
	// Rand is the source of short-term keys, cookie keys and nonces.
	// Nil means crypto/rand; tests inject a deterministic reader. It
	// must be safe for concurrent use if the Server handshakes several
	// connections at once.
	Rand io.Reader
}

var _ zmtp.Mechanism = (*Server)(nil)

// Name returns "CURVE".
func (s *Server) Name() string { return MechanismName }

// AsServer returns true: RFC 25 has the server set as-server in its
// greeting. (libzmq ignores the peer's flag, and so do we.)
func (s *Server) AsServer() bool { return true }

// Handshake runs the server side of the CurveZMQ handshake (HELLO,
// WELCOME, INITIATE, READY). It returns the client's INITIATE metadata
// plus PropPeerKey holding the client's proven long-term key (see
// PeerKey), and the codec that boxes every later frame. Errors match
// ErrConfig, ErrProtocol, ErrCrypto (for example a client with a wrong
// server key: its HELLO does not open), ErrNonce, or are an *AuthError
// (ErrUnauthorized).
//
// Like libzmq, the server closes the connection without an ERROR on
// protocol and crypto failures, and sends ERROR only to refuse an
// authenticated client.
func (s *Server) Handshake(ctx context.Context, hc zmtp.HandshakeConn, local zmtp.Metadata) (zmtp.Metadata, zmtp.FrameCodec, error) {
	if err := s.Key.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: Server.Key: %w", ErrConfig, err)
	}
	mdText, err := zmtp.AppendMetadata(nil, local)
	if err != nil {
		return nil, nil, err
	}
	rnd := randReader(s.Rand)
	hs := serverHandshake{cfg: s}
	defer hs.wipe()

	cmd, err := hc.RecvCommand()
	if err != nil {
		return nil, nil, recvErr(err, CommandHello)
	}
	if err := hs.hello(cmd); err != nil {
		return nil, nil, err
	}
	welcome, err := hs.welcome(rnd)
	if err != nil {
		return nil, nil, err
	}
	if err := hc.SendCommand(CommandWelcome, welcome); err != nil {
		return nil, nil, err
	}

	if cmd, err = hc.RecvCommand(); err != nil {
		return nil, nil, recvErr(err, CommandInitiate)
	}
	clientKey, md, err := hs.initiate(cmd)
	if err != nil {
		return nil, nil, err
	}
	if s.Authorize != nil {
		if aerr := s.Authorize(clientKey, md); aerr != nil {
			_ = hc.SendCommand(zmtp.CommandError, appendErrorData(nil, errorUnauthorized))
			// The mechanism cannot flush the handshake writer, and the
			// connection is closed as soon as we return. Wait until the
			// client, having read our ERROR, hangs up (or sends
			// anything): that guarantees the ERROR was delivered. The
			// handshake deadline bounds the wait.
			_, _ = hc.RecvCommand()
			return nil, nil, &AuthError{Key: clientKey, Err: aerr}
		}
	}

	// READY: nonce 1, Box[metadata](S'->C').
	ready := make([]byte, 0, 8+box.Overhead+len(mdText))
	ready = binary.BigEndian.AppendUint64(ready, 1)
	nonce := shortNonce(noncePrefixReady, 1)
	ready = box.SealAfterPrecomputation(ready, mdText, &nonce, &hs.sessKey)
	if err := hc.SendCommand(CommandReady, ready); err != nil {
		return nil, nil, err
	}
	return withPeerKey(md, clientKey), newCodec(&hs.sessKey, false, 2, hs.initiateNonce), nil
}

// serverHandshake is the state of one server handshake.
type serverHandshake struct {
	cfg           *Server
	cPub          [32]byte // C'
	sPub, sSec    [32]byte // S', s'
	cookieKey     [32]byte // K
	helloKey      [32]byte // C' <-> S
	sessKey       [32]byte // C' <-> S'
	helloNonce    uint64
	initiateNonce uint64
}

func (hs *serverHandshake) wipe() {
	clear(hs.sSec[:])
	clear(hs.cookieKey[:])
	clear(hs.helloKey[:])
	clear(hs.sessKey[:]) // the codec holds its own copy
}

func (hs *serverHandshake) hello(cmd zmtp.Command) error {
	if err := expect(cmd, CommandHello); err != nil {
		return err
	}
	d := cmd.Data
	if len(d) != helloDataSize {
		return fmt.Errorf("%w: HELLO of %d bytes, want %d", ErrProtocol, len(d), helloDataSize)
	}
	if d[0] != 1 || d[1] != 0 {
		return fmt.Errorf("%w: HELLO version %d.%d, want 1.0", ErrProtocol, d[0], d[1])
	}
	off := 2 + helloPadding
	copy(hs.cPub[:], d[off:off+32])
	hs.helloNonce = binary.BigEndian.Uint64(d[off+32:])
	var err error
	if hs.helloKey, err = precompute(&hs.cPub, &hs.cfg.Key.Secret, "client short-term key"); err != nil {
		return err
	}
	nonce := shortNonce(noncePrefixHello, hs.helloNonce)
	plain, ok := box.OpenAfterPrecomputation(make([]byte, 0, 64), d[off+40:], &nonce, &hs.helloKey)
	if !ok {
		return fmt.Errorf("%w: HELLO box does not open (the client does not have our public key %s)", ErrCrypto, EncodeKey(hs.cfg.Key.Public))
	}
	if !isZero(plain) {
		return fmt.Errorf("%w: HELLO signature is not 64 zero bytes", ErrProtocol)
	}
	return nil
}

func (hs *serverHandshake) welcome(rnd io.Reader) ([]byte, error) {
	pub, sec, err := box.GenerateKey(rnd)
	if err != nil {
		return nil, fmt.Errorf("curve: generating short-term key: %w", err)
	}
	hs.sPub, hs.sSec = *pub, *sec
	clear(sec[:])
	if hs.sessKey, err = precompute(&hs.cPub, &hs.sSec, "client short-term key"); err != nil {
		return nil, err
	}
	if err := readRandom(rnd, hs.cookieKey[:]); err != nil {
		return nil, err
	}
	// Cookie: long nonce, SecretBox[C' + s'](K).
	cookie := make([]byte, 16, cookieSize)
	if err := readRandom(rnd, cookie); err != nil {
		return nil, err
	}
	var cplain [64]byte
	copy(cplain[:32], hs.cPub[:])
	copy(cplain[32:], hs.sSec[:])
	nonce := longNonce(noncePrefixCookie, cookie)
	cookie = secretbox.Seal(cookie, cplain[:], &nonce, &hs.cookieKey)
	clear(cplain[:])

	// WELCOME: long nonce, Box[S' + cookie](S->C').
	plain := make([]byte, 0, 32+cookieSize)
	plain = append(append(plain, hs.sPub[:]...), cookie...)
	out := make([]byte, 16, welcomeDataSize)
	if err := readRandom(rnd, out); err != nil {
		return nil, err
	}
	nonce = longNonce(noncePrefixWelcome, out)
	return box.SealAfterPrecomputation(out, plain, &nonce, &hs.helloKey), nil
}

func (hs *serverHandshake) initiate(cmd zmtp.Command) (clientKey [32]byte, md zmtp.Metadata, err error) {
	if err := expect(cmd, CommandInitiate); err != nil {
		return clientKey, nil, err
	}
	d := cmd.Data
	if len(d) < minInitiateDataSize {
		return clientKey, nil, fmt.Errorf("%w: INITIATE of %d bytes, want at least %d", ErrProtocol, len(d), minInitiateDataSize)
	}
	// The cookie must be ours: it opens with K and holds C' and s'.
	nonce := longNonce(noncePrefixCookie, d[:16])
	var cbuf [64]byte
	cplain, ok := secretbox.Open(cbuf[:0], d[16:cookieSize], &nonce, &hs.cookieKey)
	ok = ok && equal32(cplain[:32], hs.cPub[:]) && equal32(cplain[32:], hs.sSec[:])
	clear(cbuf[:])
	clear(hs.cookieKey[:])
	if !ok {
		return clientKey, nil, fmt.Errorf("%w: INITIATE cookie is not the one we sent", ErrCrypto)
	}
	n := binary.BigEndian.Uint64(d[cookieSize:])
	if n <= hs.helloNonce {
		return clientKey, nil, fmt.Errorf("%w: INITIATE nonce %d after HELLO nonce %d", ErrNonce, n, hs.helloNonce)
	}
	nonce = shortNonce(noncePrefixInitiate, n)
	boxed := d[cookieSize+8:]
	plain, ok := box.OpenAfterPrecomputation(make([]byte, 0, len(boxed)-box.Overhead), boxed, &nonce, &hs.sessKey)
	if !ok {
		return clientKey, nil, fmt.Errorf("%w: INITIATE box does not open", ErrCrypto)
	}
	copy(clientKey[:], plain[:32])

	// The vouch proves the client holds the secret key of clientKey:
	// long nonce, Box[C' + S](C->S').
	vouch := plain[32 : 32+vouchSize]
	vouchKey, err := precompute(&clientKey, &hs.sSec, "client long-term key")
	if err != nil {
		return clientKey, nil, err
	}
	nonce = longNonce(noncePrefixVouch, vouch[:16])
	var vbuf [64]byte
	vplain, ok := box.OpenAfterPrecomputation(vbuf[:0], vouch[16:], &nonce, &vouchKey)
	clear(vouchKey[:])
	if !ok {
		return clientKey, nil, fmt.Errorf("%w: INITIATE vouch does not open (the client does not hold the secret key of %s)", ErrCrypto, EncodeKey(clientKey))
	}
	if !equal32(vplain[:32], hs.cPub[:]) || !equal32(vplain[32:], hs.cfg.Key.Public[:]) {
		return clientKey, nil, fmt.Errorf("%w: INITIATE vouch is for another connection or server", ErrCrypto)
	}
	md, err = zmtp.ParseMetadata(plain[32+vouchSize:])
	if err != nil {
		return clientKey, nil, fmt.Errorf("curve: INITIATE: %w", err)
	}
	hs.initiateNonce = n
	return clientKey, md, nil
}
