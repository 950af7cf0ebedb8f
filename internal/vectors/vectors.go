// Package vectors loads the golden wire vectors captured from the C Zyre
// reference stack (../shared/vectors beside the module root) for tests.
//
// When the folder is missing, tests skip, except when the CI environment
// variable is set: then they fail, so a CI run can never pass by silently
// skipping the byte-exact checks.
package vectors

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Message is one entry of the manifest's "messages" table: a logical
// message (one or more frames) or a packet.
type Message struct {
	ID        string          // path-like id, e.g. "codec/hello"
	Type      string          `json:"type"`
	Files     []string        `json:"files"`
	Frames    []int           `json:"frames"`
	Fields    json.RawMessage `json:"fields"`
	Source    string          `json:"source"`
	RoutingID string          `json:"routing_id_file"`
	Sender    string          `json:"sender_uuid"`
}

// File is one entry of the manifest's "files" table.
type File struct {
	Length int    `json:"length"`
	SHA256 string `json:"sha256"`
}

// Set is the loaded manifest plus the folder it came from.
type Set struct {
	Dir      string
	Messages map[string]*Message
	Files    map[string]File
}

// Dir finds ../shared/vectors relative to the module root (the nearest
// parent holding go.mod). It returns "" when the folder does not exist.
func Dir() string {
	if d := os.Getenv("GOZYRE_VECTORS"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			v := filepath.Join(d, "..", "shared", "vectors")
			if _, err := os.Stat(filepath.Join(v, "vectors.json")); err == nil {
				return v
			}
			return ""
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// Load reads the manifest. If the vectors are missing it skips the test,
// or fails it when CI is set.
func Load(tb testing.TB) *Set {
	tb.Helper()
	dir := Dir()
	if dir == "" {
		if os.Getenv("CI") != "" {
			tb.Fatal("golden vectors not found (expected ../shared/vectors beside the module root); CI requires them")
		}
		tb.Skip("golden vectors not found (../shared/vectors); set GOZYRE_VECTORS or run beside the shared folder")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "vectors.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var m struct {
		Messages map[string]*Message `json:"messages"`
		Files    map[string]File     `json:"files"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatalf("vectors.json: %v", err)
	}
	for id, msg := range m.Messages {
		msg.ID = id
	}
	return &Set{Dir: dir, Messages: m.Messages, Files: m.Files}
}

// Read returns the bytes of a file named relative to the vectors folder and
// checks its length and checksum against the manifest.
func (s *Set) Read(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	if f, ok := s.Files[name]; ok {
		sum := sha256.Sum256(b)
		if f.Length != len(b) || f.SHA256 != hex.EncodeToString(sum[:]) {
			tb.Fatalf("vector %s does not match the manifest (len %d, want %d)", name, len(b), f.Length)
		}
	}
	return b
}

// Frames returns the frames of a message in order.
func (s *Set) Frames(tb testing.TB, m *Message) [][]byte {
	tb.Helper()
	out := make([][]byte, len(m.Files))
	for i, f := range m.Files {
		out[i] = s.Read(tb, f)
	}
	return out
}

// Select returns the messages whose id starts with one of the prefixes
// and whose type is one of types (all types when types is empty), sorted by id.
func (s *Set) Select(prefixes []string, types ...string) []*Message {
	var out []*Message
	for id, m := range s.Messages {
		okp := false
		for _, p := range prefixes {
			if strings.HasPrefix(id, p) {
				okp = true
			}
		}
		okt := len(types) == 0
		for _, t := range types {
			if m.Type == t {
				okt = true
			}
		}
		if okp && okt {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// DecodeFields unmarshals a message's fields into v.
func (m *Message) DecodeFields(v any) error {
	if err := json.Unmarshal(m.Fields, v); err != nil {
		return fmt.Errorf("vector %s fields: %w", m.ID, err)
	}
	return nil
}
