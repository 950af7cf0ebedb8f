package zre

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gozyre/zyre/internal/vectors"
)

// FuzzParse feeds arbitrary frames to Parse. Seeds are the encodings of the
// codec table and frame 0 of every golden vector (read straight from the
// folder, so fuzzing also runs where the vectors are missing).
//
// Properties: Parse never panics; an error is classified (a sentinel, and
// an *Error with the header's command and sequence once the header is
// readable); a parsed message re-encodes to the identical bytes, has
// Len() equal to the frame length, and re-parses to an equal value.
func FuzzParse(f *testing.F) {
	for _, tc := range codecCases() {
		b, err := tc.msg.Append(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	if dir := vectors.Dir(); dir != "" {
		for _, pattern := range []string{"codec/*.f0.bin", "live/*.f0.bin"} {
			names, _ := filepath.Glob(filepath.Join(dir, pattern))
			for _, name := range names {
				if b, err := os.ReadFile(name); err == nil {
					f.Add(b)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		in := bytes.Clone(frame)
		m, err := Parse(frame)
		if !bytes.Equal(in, frame) {
			t.Fatal("Parse modified its input")
		}
		// Parser (recycled WHISPER and SHOUT) agrees with ParseFrames,
		// with and without content frames.
		var p Parser
		for _, frames := range [][][]byte{{frame}, {frame, []byte("content")}} {
			got, gerr := p.ParseFrames(frames)
			want, werr := ParseFrames(frames)
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gerr, werr) {
				t.Fatalf("Parser.ParseFrames = %#v, %v; ParseFrames = %#v, %v", got, gerr, want, werr)
			}
		}
		p.Reset()
		if err != nil {
			checkParseError(t, frame, m, err)
			return
		}
		if m.Len() != len(frame) {
			t.Fatalf("Len() = %d for a %d-byte frame", m.Len(), len(frame))
		}
		enc, err := m.Append(nil)
		if err != nil {
			t.Fatalf("re-encode of parsed %#v: %v", m, err)
		}
		if !bytes.Equal(enc, frame) {
			t.Fatalf("re-encoded\n got %x\nwant %x", enc, frame)
		}
		again, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("re-parse = %#v, want %#v", again, m)
		}
		// ParseFrames agrees with Parse on a single frame.
		viaFrames, err := ParseFrames([][]byte{frame})
		if err != nil || !reflect.DeepEqual(viaFrames, m) {
			t.Fatalf("ParseFrames = %#v, %v; Parse = %#v", viaFrames, err, m)
		}
	})
}

// checkParseError asserts how Parse classifies a bad frame.
func checkParseError(t *testing.T, frame []byte, m Message, err error) {
	t.Helper()
	if m != nil {
		t.Fatalf("Parse returned %#v together with %v", m, err)
	}
	known := false
	for _, s := range []error{ErrTruncated, ErrBadSignature, ErrBadVersion, ErrUnknownCommand, ErrTrailingBytes, ErrTooManyItems} {
		known = known || errors.Is(err, s)
	}
	if !known {
		t.Fatalf("unclassified error %v", err)
	}
	if errors.Is(err, ErrTruncated) != errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("%v: ErrTruncated and io.ErrUnexpectedEOF disagree", err)
	}
	e, isErr := errors.AsType[*Error](err)
	headerOK := len(frame) >= HeaderSize && frame[0] == 0xAA && frame[1] == 0xA1
	if isErr != headerOK {
		t.Fatalf("%v: *Error = %v, header readable = %v", err, isErr, headerOK)
	}
	if isErr {
		if e.Command != Command(frame[2]) || e.Sequence != uint16(frame[4])<<8|uint16(frame[5]) {
			t.Fatalf("*Error{%v, %d} does not match header %x", e.Command, e.Sequence, frame[:HeaderSize])
		}
		c, seq, perr := PeekHeader(frame)
		if c != e.Command || seq != e.Sequence || (perr != nil && !errors.Is(err, perr.(*Error).Err)) {
			t.Fatalf("PeekHeader = %v, %d, %v; Parse = %v", c, seq, perr, err)
		}
	}
	_ = err.Error()
}
