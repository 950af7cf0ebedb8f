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
}

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
		r := reader{b: f, off: HeaderSize}
		group := r.short()
		if r.err == nil && r.off == len(f) {
			m := p.shouts.Next()
			m.Sequence, m.Group, m.Content = seq, group, content
			return m, nil
		}
	}
	return ParseFrames(frames) // anything else, and every error
}

// Reset recycles the WHISPER and SHOUT messages returned since the last
// Reset; they must not be used afterwards.
func (p *Parser) Reset() {
	p.whispers.Reset()
	p.shouts.Reset()
}
