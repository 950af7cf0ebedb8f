package beacon

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gozyre/zyre/internal/vectors"
)

// FuzzParseBeacon feeds arbitrary datagrams to Parse, seeded with the
// encodings of the table beacons and the captured beacons (read straight
// from the vectors folder so fuzzing also runs where it is missing).
// Property: Parse never panics, errors are classified, and whatever parses
// re-encodes to the identical bytes and re-parses equal.
func FuzzParseBeacon(f *testing.F) {
	for _, tc := range beaconCases() {
		f.Add(tc.b.Append(nil))
	}
	if dir := vectors.Dir(); dir != "" {
		names, _ := filepath.Glob(filepath.Join(dir, "beacon", "*.bin"))
		for _, name := range names {
			if p, err := os.ReadFile(name); err == nil {
				f.Add(p)
			}
		}
	}
	f.Add([]byte("ZRE\x02"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := Parse(p)
		if err != nil {
			if b != (Beacon{}) {
				t.Fatalf("Parse returned %+v with %v", b, err)
			}
			if !errors.Is(err, ErrBadSize) && !errors.Is(err, ErrBadPrefix) && !errors.Is(err, ErrBadVersion) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if b.Version != V1 && b.Version != V3 {
			t.Fatalf("parsed version %d", b.Version)
		}
		if b.Len() != len(p) {
			t.Fatalf("Len() = %d for %d bytes", b.Len(), len(p))
		}
		enc := b.Append(nil)
		if !bytes.Equal(enc, p) {
			t.Fatalf("re-encoded\n got %x\nwant %x", enc, p)
		}
		again, err := Parse(enc)
		if err != nil || again != b {
			t.Fatalf("re-parse = %+v, %v; want %+v", again, err, b)
		}
	})
}
