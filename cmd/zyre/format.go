package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gozyre/zyre"
)

// base64Prefix marks a frame that is not UTF-8 text in JSON output (and
// binary input in the events command).
const base64Prefix = "base64:"

// frameString is a frame as a JSON string: its text when it is valid UTF-8,
// else "base64:" and its standard base64 encoding. Text that itself starts
// with "base64:" is encoded too, so that the form is never ambiguous.
func frameString(b []byte) string {
	if utf8.Valid(b) && !strings.HasPrefix(string(b), base64Prefix) {
		return string(b)
	}
	return base64Prefix + base64.StdEncoding.EncodeToString(b)
}

// frameStrings maps frameString over frames; never nil.
func frameStrings(frames [][]byte) []string {
	out := make([]string, 0, len(frames))
	for _, f := range frames {
		out = append(out, frameString(f))
	}
	return out
}

// parseFrame is the inverse of frameString for command input: "base64:..."
// is decoded, anything else is taken as text.
func parseFrame(s string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(s, base64Prefix); ok {
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, fmt.Errorf("bad base64 frame: %v", err)
		}
		return b, nil
	}
	return []byte(s), nil
}

// printable makes remote text safe to show on a terminal: control
// characters and invalid UTF-8 become visible escapes, so that a peer cannot
// move the cursor or change the terminal's state.
func printable(b []byte) string {
	if utf8.Valid(b) && !slices.ContainsFunc([]rune(string(b)), isControl) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&sb, `\x%02x`, b[0])
		case isControl(r):
			q := fmt.Sprintf("%+q", string(r))
			sb.WriteString(q[1 : len(q)-1])
		default:
			sb.WriteRune(r)
		}
		b = b[size:]
	}
	return sb.String()
}

func isControl(r rune) bool {
	return r != '\t' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029')
}

// messageText shows a message's frames on one line: the first frame's text,
// then the others separated by " | ".
func messageText(frames [][]byte) string {
	parts := make([]string, len(frames))
	for i, f := range frames {
		parts[i] = printable(f)
	}
	return strings.Join(parts, " | ")
}

// resolvePeer finds a peer by UUID, by a unique UUID prefix (at least 4 hex
// digits) or by a unique name.
func resolvePeer(ctx context.Context, n *zyre.Node, who string) (zyre.PeerInfo, error) {
	if who == "" {
		return zyre.PeerInfo{}, errors.New("missing peer name or UUID")
	}
	if id, err := zyre.ParsePeerID(who); err == nil {
		p, err := n.Peer(ctx, id)
		if err != nil {
			return zyre.PeerInfo{}, fmt.Errorf("peer %s: %w", id, err)
		}
		return p, nil
	}
	peers, err := n.Peers(ctx)
	if err != nil {
		return zyre.PeerInfo{}, err
	}
	var byName, byPrefix []zyre.PeerInfo
	upper := strings.ToUpper(who)
	for _, p := range peers {
		if p.Name == who {
			byName = append(byName, p)
		}
		if len(who) >= 4 && strings.HasPrefix(p.ID.String(), upper) {
			byPrefix = append(byPrefix, p)
		}
	}
	for _, set := range [][]zyre.PeerInfo{byName, byPrefix} {
		switch len(set) {
		case 0:
			continue
		case 1:
			return set[0], nil
		default:
			ids := make([]string, len(set))
			for i, p := range set {
				ids[i] = p.ID.String()
			}
			return zyre.PeerInfo{}, fmt.Errorf("%q is ambiguous: %s (use the UUID)", who, strings.Join(ids, ", "))
		}
	}
	return zyre.PeerInfo{}, fmt.Errorf("no peer named %q", who)
}

// peerJSON is a peer in JSON output (zyre peers --json, PEERS).
type peerJSON struct {
	Peer     string            `json:"peer"`
	Name     string            `json:"name"`
	Endpoint string            `json:"endpoint"`
	Groups   []string          `json:"groups"`
	Headers  map[string]string `json:"headers"`
}

func peersJSON(peers []zyre.PeerInfo) []peerJSON {
	out := make([]peerJSON, 0, len(peers))
	for _, p := range peers {
		j := peerJSON{Peer: p.ID.String(), Name: p.Name, Endpoint: p.Endpoint, Groups: p.Groups, Headers: p.Headers}
		if j.Groups == nil {
			j.Groups = []string{}
		}
		if j.Headers == nil {
			j.Headers = map[string]string{}
		}
		out = append(out, j)
	}
	return out
}
