package curve

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"sync"

	"github.com/gozyre/zyre/internal/zmtp"
)

// PropPeerKey is the name of the metadata property in which Client and
// Server hand the peer's proven long-term public key to the caller of
// Handshake (and so to zmtp.Conn.PeerMetadata): on the server the client's
// key, which the client proved through its vouch; on the client the
// server's key, which the server proved by opening HELLO and sealing
// WELCOME.
//
// It is never sent on the wire. Any property of that name (compared
// case-insensitively) that the peer sends in INITIATE or READY is dropped.
// The value is sealed with a secret known only to this process, so even
// on a connection that does not use CURVE (where the mechanism cannot strip
// anything) a peer cannot forge it: read it with PeerKey, never directly.
const PropPeerKey = "Curve-Peer-Key"

// peerKeyTagSize is the size of the seal after the key in the value.
const peerKeyTagSize = 16

var (
	sealOnce sync.Once
	sealKey  [32]byte
)

func peerKeyTag(key *[KeySize]byte) []byte {
	sealOnce.Do(func() { _, _ = rand.Read(sealKey[:]) }) // crypto/rand never fails
	m := hmac.New(sha256.New, sealKey[:])
	m.Write(key[:])
	return m.Sum(nil)[:peerKeyTagSize]
}

// PeerKey returns the peer's long-term public key proven by the CURVE
// handshake of the connection md describes (zmtp.Conn.PeerMetadata). ok
// is false when the connection did not use CURVE, or when md holds a
// property called PropPeerKey that this package did not put there.
func PeerKey(md zmtp.Metadata) (key [KeySize]byte, ok bool) {
	v, found := md.Get(PropPeerKey)
	if !found || len(v) != KeySize+peerKeyTagSize {
		return key, false
	}
	copy(key[:], v)
	if !hmac.Equal(v[KeySize:], peerKeyTag(&key)) {
		return [KeySize]byte{}, false
	}
	return key, true
}

// withPeerKey returns md without any peer-sent PropPeerKey and with our
// sealed one appended.
func withPeerKey(md zmtp.Metadata, key [KeySize]byte) zmtp.Metadata {
	out := md[:0]
	for _, p := range md {
		if !strings.EqualFold(p.Name, PropPeerKey) {
			out = append(out, p)
		}
	}
	v := make([]byte, 0, KeySize+peerKeyTagSize)
	v = append(append(v, key[:]...), peerKeyTag(&key)...)
	return append(out, zmtp.Property{Name: PropPeerKey, Value: v})
}
