// Package curve implements the CURVE security mechanism of ZMTP 3.x
// (ZeroMQ RFC 25, ZMTP-CURVE) with the CurveZMQ handshake (RFC 26), on the
// NaCl boxes of golang.org/x/crypto (nacl/box, nacl/secretbox,
// curve25519). It is wire-compatible with libzmq 4.x.
//
// # Use
//
// Client and Server implement zmtp.Mechanism; put one in
// zmtp.Config.Mechanism. The client (in ZRE, the DEALER that connects to a
// peer) must know the server's long-term public key in advance:
//
//	cfg.Mechanism = &curve.Client{Key: ourKeys, ServerKey: peerPublicKey}
//
// The server (the ROUTER mailbox) needs only its own key pair and may vet
// clients by their long-term key:
//
//	cfg.Mechanism = &curve.Server{Key: ourKeys, Authorize: allowList}
//
// After the handshake, curve.PeerKey(conn.PeerMetadata()) returns the
// peer's long-term public key as the handshake proved it (the client's
// vouch on the server side; ServerKey on the client side). The property
// carrying it (PropPeerKey) is added locally, cannot be sent by the peer,
// and is sealed so that it cannot be forged on a non-CURVE connection
// either.
//
// # Wire behaviour
//
//   - HELLO is 200 bytes with 72 bytes of zero padding and version 1.0;
//     WELCOME carries S' and a cookie sealed with a per-connection key K
//     (nacl/secretbox); INITIATE carries the cookie, C, the vouch and our
//     metadata; READY carries the server's metadata.
//   - Short nonces count from 1 in each direction: the client's HELLO is
//     1, INITIATE 2 and its first MESSAGE 3; the server's READY is 1 and
//     its first MESSAGE 2. Received nonces must increase strictly (gaps
//     are allowed, as in libzmq); a replayed or reordered MESSAGE ends the
//     connection with ErrNonce.
//   - After the handshake every ZMTP frame, PING and PONG included, is
//     boxed on its own into a MESSAGE, sent as a data frame with no flags
//     (what libzmq does); MORE and COMMAND travel in the first plaintext
//     byte (bits 0 and 1). Any other frame, a MESSAGE frame with flags, a
//     box that does not open or a bad nonce is an error that closes the
//     connection.
//   - Low-order Curve25519 public keys are refused.
//   - The server closes the connection without a word on protocol or
//     crypto failures (as libzmq does), and sends ERROR "400" only to
//     refuse an authenticated client through Authorize.
//
// Randomness (short-term keys, cookie key, long nonces) comes from the
// Rand field of Client and Server, crypto/rand by default; tests inject
// deterministic bytes to reproduce transcripts.
//
// # Keys and certificates
//
// KeyPair, GenerateKeyPair, ParseKey/EncodeKey (Z85, RFC 32) and
// Certificate (czmq zcert files, also written by pyzmq's zmq.auth) cover
// key handling.
package curve
