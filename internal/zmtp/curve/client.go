package curve

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gozyre/zyre/internal/zmtp"
	"golang.org/x/crypto/nacl/box"
)

// Client is the client side of the CURVE mechanism (the side that knows
// the other's public key in advance; in ZRE, the DEALER that connects to a
// peer's mailbox). It implements zmtp.Mechanism. One Client may serve any
// number of connections at once; it is not modified by Handshake.
//
// Randomness is read in this order for each handshake: 32 bytes for the
// short-term secret key C', then 16 bytes for the vouch nonce.
type Client struct {
	// Key is our long-term key pair. Required.
	Key KeyPair
	// ServerKey is the server's long-term public key. Required.
	ServerKey [KeySize]byte
	// Rand is the source of short-term keys and nonces. Nil means
	// crypto/rand; tests inject a deterministic reader. It must be safe
	// for concurrent use if the Client handshakes several connections
	// at once.
	Rand io.Reader
}

var _ zmtp.Mechanism = (*Client)(nil)

// Name returns "CURVE".
func (c *Client) Name() string { return MechanismName }

// AsServer returns false.
func (c *Client) AsServer() bool { return false }

// Handshake runs the client side of the CurveZMQ handshake (HELLO,
// WELCOME, INITIATE, READY). It returns the server's READY metadata plus
// PropPeerKey holding ServerKey (see PeerKey), and the codec that boxes
// every later frame. Errors match ErrConfig, ErrProtocol, ErrCrypto,
// ErrNonce, ErrRejected (the server sent ERROR) or ErrServerGone (the
// server hung up after HELLO: most likely ServerKey is wrong).
func (c *Client) Handshake(ctx context.Context, hc zmtp.HandshakeConn, local zmtp.Metadata) (zmtp.Metadata, zmtp.FrameCodec, error) {
	if isZero(c.ServerKey[:]) {
		return nil, nil, fmt.Errorf("%w: Client.ServerKey is not set", ErrConfig)
	}
	if err := c.Key.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: Client.Key: %w", ErrConfig, err)
	}
	mdText, err := zmtp.AppendMetadata(nil, local)
	if err != nil {
		return nil, nil, err
	}
	rnd := randReader(c.Rand)
	hs := clientHandshake{cfg: c}
	defer hs.wipe()

	// HELLO: version, padding, C', nonce, Box[64 zeros](C'->S).
	pub, sec, err := box.GenerateKey(rnd)
	if err != nil {
		return nil, nil, fmt.Errorf("curve: generating short-term key: %w", err)
	}
	hs.cPub, hs.cSec = *pub, *sec
	clear(sec[:])
	if hs.helloKey, err = precompute(&c.ServerKey, &hs.cSec, "server public key"); err != nil {
		return nil, nil, fmt.Errorf("%w: Client.ServerKey: %w", ErrConfig, err)
	}
	hello := make([]byte, 0, helloDataSize)
	hello = append(hello, 1, 0)
	hello = append(hello, make([]byte, helloPadding)...)
	hello = append(hello, hs.cPub[:]...)
	hello = binary.BigEndian.AppendUint64(hello, 1)
	nonce := shortNonce(noncePrefixHello, 1)
	hello = box.SealAfterPrecomputation(hello, make([]byte, 64), &nonce, &hs.helloKey)
	if err := hc.SendCommand(CommandHello, hello); err != nil {
		return nil, nil, err
	}

	// WELCOME: long nonce, Box[S' + cookie](S->C').
	cmd, err := hc.RecvCommand()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, fmt.Errorf("%w: %w", ErrServerGone, err)
		}
		return nil, nil, recvErr(err, CommandWelcome)
	}
	if err := hs.welcome(cmd); err != nil {
		return nil, nil, err
	}

	// INITIATE: cookie, nonce, Box[C + vouch + metadata](C'->S').
	initiate, err := hs.initiate(rnd, mdText)
	if err != nil {
		return nil, nil, err
	}
	if err := hc.SendCommand(CommandInitiate, initiate); err != nil {
		return nil, nil, err
	}

	// READY: nonce, Box[metadata](S'->C').
	if cmd, err = hc.RecvCommand(); err != nil {
		return nil, nil, recvErr(err, CommandReady)
	}
	md, readyNonce, err := hs.ready(cmd)
	if err != nil {
		return nil, nil, err
	}
	return withPeerKey(md, c.ServerKey), newCodec(&hs.sessKey, true, 3, readyNonce), nil
}

// clientHandshake is the state of one client handshake.
type clientHandshake struct {
	cfg        *Client
	cPub, cSec [32]byte // C', c'
	sPub       [32]byte // S'
	cookie     [cookieSize]byte
	helloKey   [32]byte // C' <-> S
	sessKey    [32]byte // C' <-> S'
}

func (hs *clientHandshake) wipe() {
	clear(hs.cSec[:])
	clear(hs.helloKey[:])
	clear(hs.sessKey[:]) // the codec holds its own copy
}

func (hs *clientHandshake) welcome(cmd zmtp.Command) error {
	if err := expect(cmd, CommandWelcome); err != nil {
		return err
	}
	d := cmd.Data
	if len(d) != welcomeDataSize {
		return fmt.Errorf("%w: WELCOME of %d bytes, want %d", ErrProtocol, len(d), welcomeDataSize)
	}
	nonce := longNonce(noncePrefixWelcome, d[:16])
	plain, ok := box.OpenAfterPrecomputation(make([]byte, 0, 32+cookieSize), d[16:], &nonce, &hs.helloKey)
	if !ok {
		return fmt.Errorf("%w: WELCOME box does not open (not from the holder of the server key)", ErrCrypto)
	}
	copy(hs.sPub[:], plain[:32])
	copy(hs.cookie[:], plain[32:])
	var err error
	hs.sessKey, err = precompute(&hs.sPub, &hs.cSec, "server short-term key")
	return err
}

func (hs *clientHandshake) initiate(rnd io.Reader, mdText []byte) ([]byte, error) {
	// Vouch: long nonce, Box[C' + S](C->S').
	vouchKey, err := precompute(&hs.sPub, &hs.cfg.Key.Secret, "server short-term key")
	if err != nil {
		return nil, err
	}
	defer clear(vouchKey[:])
	vouch := make([]byte, 16, vouchSize)
	if err := readRandom(rnd, vouch); err != nil {
		return nil, err
	}
	nonce := longNonce(noncePrefixVouch, vouch)
	vouch = box.SealAfterPrecomputation(vouch, append(hs.cPub[:], hs.cfg.ServerKey[:]...), &nonce, &vouchKey)

	plain := make([]byte, 0, 32+vouchSize+len(mdText))
	plain = append(plain, hs.cfg.Key.Public[:]...)
	plain = append(plain, vouch...)
	plain = append(plain, mdText...)

	out := make([]byte, 0, cookieSize+8+box.Overhead+len(plain))
	out = append(out, hs.cookie[:]...)
	out = binary.BigEndian.AppendUint64(out, 2)
	nonce = shortNonce(noncePrefixInitiate, 2)
	return box.SealAfterPrecomputation(out, plain, &nonce, &hs.sessKey), nil
}

func (hs *clientHandshake) ready(cmd zmtp.Command) (zmtp.Metadata, uint64, error) {
	if err := expect(cmd, CommandReady); err != nil {
		return nil, 0, err
	}
	d := cmd.Data
	if len(d) < minReadyDataSize {
		return nil, 0, fmt.Errorf("%w: READY of %d bytes, want at least %d", ErrProtocol, len(d), minReadyDataSize)
	}
	n := binary.BigEndian.Uint64(d)
	if n == 0 {
		return nil, 0, fmt.Errorf("%w: READY nonce 0", ErrNonce)
	}
	nonce := shortNonce(noncePrefixReady, n)
	plain, ok := box.OpenAfterPrecomputation(make([]byte, 0, len(d)-minReadyDataSize), d[8:], &nonce, &hs.sessKey)
	if !ok {
		return nil, 0, fmt.Errorf("%w: READY box does not open", ErrCrypto)
	}
	md, err := zmtp.ParseMetadata(plain)
	if err != nil {
		return nil, 0, fmt.Errorf("curve: READY: %w", err)
	}
	return md, n, nil
}

// equal32 compares two 32-byte values in constant time.
func equal32(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
