package zre

import "github.com/gozyre/zyre/internal/slab"

// Parser is ParseFrames for a hot receive path: WHISPER and SHOUT
// messages, the ones that carry application traffic, come from storage the
// Parser recycles, so parsing them allocates nothing (a SHOUT's group name
// aside). They are valid until the next Reset; every other command is
// parsed by ParseFrames and owned by the caller. The zero value is ready
// to use; a Parser is not safe for concurrent use.
type Parser struct {
	whispers slab.Slab[Whisper]
	shouts   slab.Slab[Shout]
	groups   map[string]string // group names seen in SHOUTs, interned
}

// maxInterned bounds the interned group names; the table starts over when
// it is full, so a peer shouting to ever new names cannot grow it.
const maxInterned = 256

// ParseFrames parses a whole ZRE message as the package's ParseFrames
// does, with the same results and errors.
func (p *Parser) ParseFrames(frames [][]byte) (Message, error) {
	if len(frames) == 0 {
		return ParseFrames(frames)
	}
	f := frames[0]
	c, seq, err := PeekHeader(f)
	if err != nil {
		return ParseFrames(frames)
	}
	var content [][]byte
	if len(frames) > 1 {
		content = frames[1:]
	}
	switch c {
	case CmdWhisper:
		if len(f) == HeaderSize {
			m := p.whispers.Next()
			m.Sequence, m.Content = seq, content
			return m, nil
		}
	case CmdShout:
		if len(f) > HeaderSize && len(f) == HeaderSize+1+int(f[HeaderSize]) {
			m := p.shouts.Next()
			m.Sequence, m.Group, m.Content = seq, p.group(f[HeaderSize+1:]), content
			return m, nil
		}
	}
	return ParseFrames(frames) // anything else, and every error
}

// group returns b as a string, without allocating for names seen before.
func (p *Parser) group(b []byte) string {
	if s, ok := p.groups[string(b)]; ok {
		return s
	}
	if p.groups == nil || len(p.groups) >= maxInterned {
		p.groups = make(map[string]string)
	}
	s := string(b)
	p.groups[s] = s
	return s
}

// Reset recycles the WHISPER and SHOUT messages returned since the last
// Reset; they must not be used afterwards.
func (p *Parser) Reset() {
	p.whispers.Reset()
	p.shouts.Reset()
}
