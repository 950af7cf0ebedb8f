package gossip

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gozyre/zyre/internal/vectors"
	"github.com/gozyre/zyre/internal/zmtp"
)

// FuzzParse feeds arbitrary frames to Parse. Seeds are the encodings of the
// codec table and every gossip frame of the live capture (read straight
// from the folder, so fuzzing also runs where the vectors are missing).
//
// Properties: Parse never panics and never modifies its input; an error
// matches exactly the sentinels it may (ErrTruncated together with
// io.ErrUnexpectedEOF); a parsed message has Len() equal to the frame
// length, re-encodes to the identical bytes and re-parses to an equal
// value.
func FuzzParse(f *testing.F) {
	for _, tc := range codecCases() {
		b, err := tc.msg.Append(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	if dir := vectors.Dir(); dir != "" {
		for _, name := range []string{"raw_client_to_hub.bin", "raw_hub_to_client.bin"} {
			raw, err := os.ReadFile(filepath.Join(dir, "gossip", name))
			if err != nil || len(raw) < zmtp.GreetingSize {
				continue
			}
			r := zmtp.NewFrameReader(bytes.NewReader(raw[zmtp.GreetingSize:]), 0, 0)
			for {
				msg, _, err := r.ReadMessage()
				if err != nil {
					break
				}
				for _, fr := range msg {
					f.Add(fr)
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
		if err != nil {
			if m != nil {
				t.Fatalf("Parse returned %#v with error %v", m, err)
			}
			checkParseError(t, err)
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
		m2, err := Parse(enc)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-parse = %#v, %v; want %#v", m2, err, m)
		}
	})
}

func checkParseError(t *testing.T, err error) {
	t.Helper()
	truncated := errors.Is(err, ErrTruncated)
	if truncated != errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("%v: ErrTruncated and io.ErrUnexpectedEOF must go together", err)
	}
	n := 0
	for _, s := range []error{ErrTruncated, ErrBadSignature, ErrBadVersion, ErrUnknownCommand, ErrTrailingBytes} {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%v matches %d sentinels, want exactly 1", err, n)
	}
}
