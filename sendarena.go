package zyre

import (
	"slices"

	"github.com/gozyre/zyre/internal/zre"
)

// Outgoing message storage. Frame 0 and the list of frames of every
// message used to cost two allocations; small messages now get both carved
// from chunks owned by the actor. A chunk lives as long as any message
// carved from it waits in an outbox, so only messages whose content is at
// most sendArenaMaxContent bytes use the chunks: what a chunk can keep
// alive stays small.
const (
	sendArenaBytes      = 16 << 10 // bytes per chunk of frame-0 storage
	sendArenaLists      = 512      // slice headers per chunk of frame lists
	sendArenaMaxHeader  = 1 << 10  // larger frame 0 (HELLO): own allocation
	sendArenaMaxContent = 4 << 10
	sendArenaMaxFrames  = 8
)

// sendArena hands out caller-owned memory carved from chunks; it never
// reuses what it handed out.
type sendArena struct {
	buf   []byte
	lists [][]byte
}

// frames encodes msg: frame 0 followed by its content frames.
func (s *sendArena) frames(msg zre.Message) ([][]byte, error) {
	content := zre.ContentOf(msg)
	size := 0
	for _, f := range content {
		size += len(f)
	}
	n := msg.Len()
	if n > sendArenaMaxHeader || len(content) >= sendArenaMaxFrames || size > sendArenaMaxContent {
		frame0, err := msg.Append(make([]byte, 0, n))
		if err != nil {
			return nil, err
		}
		return ownList(frame0, content), nil
	}
	if len(s.buf) < n {
		s.buf = make([]byte, sendArenaBytes)
	}
	frame0, err := msg.Append(s.buf[:0:n])
	if err != nil {
		return nil, err
	}
	if len(frame0) != n || &frame0[0] != &s.buf[0] { // Len and Append disagree: do not carve
		return ownList(slices.Clone(frame0), content), nil
	}
	s.buf = s.buf[n:]
	k := 1 + len(content)
	if len(s.lists) < k {
		s.lists = make([][]byte, sendArenaLists)
	}
	out := s.lists[:k:k]
	s.lists = s.lists[k:]
	out[0] = frame0
	copy(out[1:], content)
	return out, nil
}

// ownList returns frame0 and content in a list of its own.
func ownList(frame0 []byte, content [][]byte) [][]byte {
	return append(append(make([][]byte, 0, 1+len(content)), frame0), content...)
}
