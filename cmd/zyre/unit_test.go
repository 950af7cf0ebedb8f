package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gozyre/zyre"
)

func TestFrameString(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{[]byte("hello"), "hello"},
		{[]byte(""), ""},
		{[]byte("héllo ☃"), "héllo ☃"},
		{[]byte{0x00, 0xff}, "base64:AP8="},
		{[]byte("base64:looks encoded"), "base64:YmFzZTY0Omxvb2tzIGVuY29kZWQ="},
	} {
		got := frameString(tc.in)
		if got != tc.want {
			t.Errorf("frameString(%q) = %q, want %q", tc.in, got, tc.want)
		}
		back, err := parseFrame(got)
		if err != nil || !bytes.Equal(back, tc.in) {
			t.Errorf("parseFrame(%q) = %q, %v; want %q", got, back, err, tc.in)
		}
	}
	if _, err := parseFrame("base64:!!"); err == nil {
		t.Error("parseFrame accepted bad base64")
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":     "plain text",
		"tab\there":      "tab\there",
		"esc\x1b[2Jhere": `esc\x1b[2Jhere`,
		"bell\a":         `bell\a`,
		"bad\xffutf8":    `bad\xffutf8`,
		"new\nline":      `new\nline`,
		"unicode ☃ fine": "unicode ☃ fine",
	} {
		if got := printable([]byte(in)); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWord(t *testing.T) {
	for _, tc := range []struct{ in, first, rest string }{
		{"SHOUT g hello  world", "SHOUT", "g hello  world"},
		{"  JOIN g", "JOIN", "g"},
		{"QUIT", "QUIT", ""},
		{"g  two spaces", "g", " two spaces"},
		{"", "", ""},
	} {
		first, rest := word(tc.in)
		if first != tc.first || rest != tc.rest {
			t.Errorf("word(%q) = %q, %q; want %q, %q", tc.in, first, rest, tc.first, tc.rest)
		}
	}
}

func TestEventJSONKeys(t *testing.T) {
	id, _ := zyre.ParsePeerID("0123456789abcdef0123456789ABCDEF")
	for _, tc := range []struct {
		ev   zyre.Event
		want string
	}{
		{zyre.EnterEvent{Peer: id, Name: "n", Endpoint: "tcp://127.0.0.1:1"},
			`{"type":"ENTER","peer":"0123456789ABCDEF0123456789ABCDEF","name":"n","endpoint":"tcp://127.0.0.1:1","headers":{}}`},
		{zyre.ShoutEvent{Peer: id, Name: "n", Group: "g", Frames: [][]byte{[]byte("a"), {0xff}}},
			`{"type":"SHOUT","peer":"0123456789ABCDEF0123456789ABCDEF","name":"n","group":"g","frames":["a","base64:/w=="]}`},
		{zyre.WhisperEvent{Peer: id, Name: "n"},
			`{"type":"WHISPER","peer":"0123456789ABCDEF0123456789ABCDEF","name":"n","frames":[]}`},
		{zyre.ExitEvent{Peer: id, Name: "n", Reason: "goodbye"},
			`{"type":"EXIT","peer":"0123456789ABCDEF0123456789ABCDEF","name":"n","reason":"goodbye"}`},
		{zyre.StopEvent{}, `{"type":"STOP"}`},
		{zyre.DroppedEvent{Count: 3, Reason: "slow"}, `{"type":"DROPPED","reason":"slow","count":3}`},
	} {
		b, err := json.Marshal(toJSON(tc.ev))
		if err != nil || string(b) != tc.want {
			t.Errorf("toJSON(%T) = %s, %v\nwant %s", tc.ev, b, err, tc.want)
		}
	}
}

func TestParseInterleaved(t *testing.T) {
	e := &env{stdout: io.Discard, stderr: io.Discard}
	fs, c := newFlagSet(e, "cat", "GROUP", "", defaultCommon)
	wait := fs.Duration("wait", 0, "")
	pos, err := parse(fs, []string{"--name", "x", "G", "--wait", "5s", "--header", "A=1", "--header", "B=2=3", "--", "-notaflag"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pos, []string{"G", "-notaflag"}) || c.name != "x" || wait.String() != "5s" ||
		c.headers["A"] != "1" || c.headers["B"] != "2=3" {
		t.Errorf("pos %q name %q wait %v headers %v", pos, c.name, *wait, c.headers)
	}
	_, err = parse(fs, []string{"--nope"})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("unknown flag: %v, want a usage error", err)
	}
	var out bytes.Buffer
	fs, _ = newFlagSet(&env{stdout: &out}, "cat", "GROUP", "summary", defaultCommon)
	if _, err := parse(fs, []string{"-h"}); !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "usage: zyre cat [flags] GROUP") {
		t.Errorf("-h: %v, usage %q", err, out.String())
	}
}

// feed runs the editor over keys as if typed, returning the lines entered.
func feed(ed *editor, keys string) (lines []string, err error) {
	ed.pending = append(ed.pending, keys...)
	for {
		if !ed.reading { // a new line starts, as in ReadLine
			ed.reading, ed.buf, ed.pos, ed.hpos = true, nil, 0, len(ed.history)
		}
		line, done, err := ed.process()
		if !done {
			return lines, nil
		}
		if err != nil {
			return lines, err
		}
		lines = append(lines, line)
	}
}

func TestEditor(t *testing.T) {
	var out bytes.Buffer
	ed := &editor{out: &out, prompt: "> "}
	for _, tc := range []struct{ keys, want string }{
		{"hello\r", "hello"},
		{"helo\x1b[D\x1b[Dl\r", "hello"},     // left arrow, insert
		{"abc\x7f\x7fz\r", "az"},             // backspace
		{"one two\x17three\r", "one three"},  // Ctrl-W
		{"xyz\x01A\x05Z\r", "AxyzZ"},         // Ctrl-A, Ctrl-E
		{"junk\x15clean\r", "clean"},         // Ctrl-U
		{"ab\x1b[Dc\x1b[3~\r", "ac"},         // delete key
		{"\x1b[A\x1b[A\r", "clean"},          // history: two up
		{"\x1b[A\x1b[B\x1b[Bnew\r\n", "new"}, // up, down back to the new line; CR LF is one Enter
		{"snow ☃\r", "snow ☃"},               // UTF-8
		{"split\x1b", ""},                    // incomplete escape: waits
	} {
		lines, err := feed(ed, tc.keys)
		got := strings.Join(lines, "|")
		if err != nil || got != tc.want {
			t.Errorf("keys %q: lines %q, %v; want %q", tc.keys, got, err, tc.want)
		}
	}
	// The pending ESC completes: "[C" is right arrow, then Enter.
	if lines, _ := feed(ed, "[C!\r"); !slices.Equal(lines, []string{"split!"}) {
		t.Errorf("after split escape: %q", lines)
	}
	if _, err := feed(ed, "\x04"); !errors.Is(err, io.EOF) {
		t.Errorf("Ctrl-D on an empty line: %v, want EOF", err)
	}
	if _, err := feed(ed, "x\x03"); !errors.Is(err, errInterrupted) {
		t.Errorf("Ctrl-C: %v, want errInterrupted", err)
	}
	// Messages printed while typing go above the redrawn input line.
	out.Reset()
	ed.reading, ed.buf, ed.pos = true, []rune("typing"), 6
	ed.Println("incoming")
	if got := out.String(); got != "\r\x1b[Kincoming\n\r\x1b[K> typing" {
		t.Errorf("Println while typing wrote %q", got)
	}
}

func TestLoadAllowList(t *testing.T) {
	dir := t.TempDir()
	var keys []zyre.PublicKey
	for range 3 {
		kp, err := zyre.GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, kp.Public)
	}
	// A key with '#' inside is still a key.
	hashKey, err := zyre.ParsePublicKey("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf#")
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, hashKey)
	text := "# allowed peers\n\n" + keys[0].String() + "\n  " + keys[1].String() + "  # second\n\t" +
		keys[2].String() + "\r\n" + keys[3].String() + "\n#" + keys[0].String() + "\n"
	file := filepath.Join(dir, "allow.txt")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := loadAllowList(file)
	if err != nil || !slices.Equal(got, keys) {
		t.Errorf("loadAllowList = %v, %v; want %v", got, err, keys)
	}
	if err := os.WriteFile(file, []byte(keys[0].String()+"\nnot-a-key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadAllowList(file); err == nil || !strings.Contains(err.Error(), "allow.txt:2") {
		t.Errorf("bad line: %v, want an error naming allow.txt:2", err)
	}
	// An empty list allows no one (not nil, which would allow everyone).
	if err := os.WriteFile(file, []byte("# nobody\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := loadAllowList(file); err != nil || got == nil || len(got) != 0 {
		t.Errorf("empty list = %#v, %v; want empty, not nil", got, err)
	}
	// A directory of czmq certificates: public files count, secrets are skipped.
	certs := filepath.Join(dir, "certs")
	if err := os.Mkdir(certs, 0o755); err != nil {
		t.Fatal(err)
	}
	kp, _ := zyre.GenerateKeyPair()
	if err := zyre.SaveCertificate(filepath.Join(certs, "peer.cert"), kp); err != nil {
		t.Fatal(err)
	}
	got, err = loadAllowList(certs)
	if err != nil || !slices.Equal(got, []zyre.PublicKey{kp.Public}) {
		t.Errorf("directory: %v, %v; want [%v]", got, err, kp.Public)
	}
}
