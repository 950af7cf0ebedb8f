package zyre

import (
	"errors"
	"slices"
	"sync"

	"github.com/gozyre/zyre/internal/zmtp"
	"github.com/gozyre/zyre/internal/zmtp/curve"
	"github.com/gozyre/zyre/internal/zre"
)

// CURVE mode wiring. C Zyre encrypts but never checks who is on the other
// end: keys travel in unauthenticated beacons and headers, and its mailbox
// accepts any client. We also check (1) that a client's proven key is
// allowed (Config.AllowKeys, Config.Authorize), (2) that a UUID keeps the
// key it first proved (no identity takeover through ROUTER handover), and
// (3) that the X-PUBLICKEY a peer announces in HELLO is the key it proved.

var (
	errKeyNotAllowed = errors.New("public key not allowed")
	errKeyChanged    = errors.New("peer ID already connected with another key")
	errBadIdentity   = errors.New("routing id is not 0x01+UUID")
)

// provenKeys maps mailbox routing ids to the key their CURVE handshake
// proved. Router goroutines write it during handshakes; the actor reads it.
type provenKeys struct {
	mu sync.Mutex
	m  map[string]PublicKey
}

func (p *provenKeys) get(id []byte) (PublicKey, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k, ok := p.m[string(id)]
	return k, ok
}

func (p *provenKeys) forget(id []byte) {
	p.mu.Lock()
	delete(p.m, string(id))
	p.mu.Unlock()
}

// prune forgets the ids for which keep reports false.
func (p *provenKeys) prune(keep func(id string) bool) {
	p.mu.Lock()
	for id := range p.m {
		if !keep(id) {
			delete(p.m, id)
		}
	}
	p.mu.Unlock()
}

func (p *provenKeys) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// serverMechanism returns the mailbox's mechanism: NULL, or a CURVE
// server that authorizes clients.
func (a *actor) serverMechanism() zmtp.Mechanism {
	cfg := &a.n.cfg
	if cfg.Curve == nil {
		return nil
	}
	a.keys.m = make(map[string]PublicKey)
	return &curve.Server{Key: cfg.Curve.internal(), Authorize: a.authorize}
}

// clientMechanism returns the mechanism of our connection to a peer whose
// public key is key (nil in NULL mode).
func (a *actor) clientMechanism(key []byte) (zmtp.Mechanism, error) {
	cfg := &a.n.cfg
	if cfg.Curve == nil {
		return nil, nil
	}
	if len(key) != 32 {
		return nil, errors.New("CURVE mode: no public key known for the peer")
	}
	return &curve.Client{Key: cfg.Curve.internal(), ServerKey: [32]byte(key)}, nil
}

// authorize runs on a mailbox connection goroutine after a client proved
// its long-term key.
func (a *actor) authorize(key [32]byte, md zmtp.Metadata) error {
	cfg := &a.n.cfg
	id, _ := md.Get(zmtp.PropIdentity)
	reject := func(err error) error {
		a.n.stats.peersRejected.Add(1)
		a.rejects.note(a.log, "CURVE client refused", "key", PublicKey(key).String(), "err", err)
		return err
	}
	if len(id) != 17 || id[0] != 1 {
		return reject(errBadIdentity)
	}
	var peer PeerID
	copy(peer[:], id[1:])
	if !keyAllowed(cfg.AllowKeys, cfg.Authorize, peer, key) {
		return reject(errKeyNotAllowed)
	}
	a.keys.mu.Lock()
	defer a.keys.mu.Unlock()
	if old, ok := a.keys.m[string(id)]; ok && old != key {
		return reject(errKeyChanged)
	}
	a.keys.m[string(id)] = key
	return nil
}

// keyAllowed applies an allow-list (nil: any key) and then an authorize
// callback (nil: yes) to a key proved by peer.
func keyAllowed(allow []PublicKey, authorize func(PeerID, PublicKey) bool, peer PeerID, key PublicKey) bool {
	if allow != nil && !slices.Contains(allow, key) {
		return false
	}
	return authorize == nil || authorize(peer, key)
}

// gossipServerMechanism is the CURVE server of a node's gossip listener
// (GossipBind in CURVE mode): clients need a key that AllowKeys and
// Authorize accept, as for the mailbox. Gossip clients are nodes (whose
// routing id is 0x01 and their UUID) or servers (Authorize then gets the
// zero PeerID).
func (a *actor) gossipServerMechanism() zmtp.Mechanism {
	cfg := &a.n.cfg
	if cfg.Curve == nil || cfg.GossipBind == "" {
		return nil
	}
	return &curve.Server{Key: cfg.Curve.internal(), Authorize: func(key [32]byte, md zmtp.Metadata) error {
		var peer PeerID
		if id, _ := md.Get(zmtp.PropIdentity); len(id) == 17 && id[0] == 1 {
			copy(peer[:], id[1:])
		}
		if !keyAllowed(cfg.AllowKeys, cfg.Authorize, peer, key) {
			a.n.stats.peersRejected.Add(1)
			a.rejects.note(a.log, "gossip CURVE client refused", "key", PublicKey(key).String())
			return errKeyNotAllowed
		}
		return nil
	}}
}

// helloKeyMatches reports whether a HELLO's X-PUBLICKEY is the key its
// sender proved in the CURVE handshake (always true in NULL mode).
func (a *actor) helloKeyMatches(identity []byte, h *zre.Hello) bool {
	if a.n.cfg.Curve == nil {
		return true
	}
	proven, ok := a.keys.get(identity)
	if !ok {
		return false
	}
	for _, kv := range h.Headers {
		if kv.Key == "X-PUBLICKEY" {
			announced, err := ParsePublicKey(kv.Value)
			return err == nil && announced == proven
		}
	}
	return false
}
