package curve

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
)

// SecretSuffix is appended to a certificate's file name to name its secret
// file, as czmq's zcert_save does ("server.cert" and "server.cert_secret").
const SecretSuffix = "_secret"

// ErrCertificate reports a certificate file that is not valid ZPL (ZeroMQ
// RFC 4) or lacks a valid curve/public-key.
var ErrCertificate = errors.New("curve: invalid certificate")

// Certificate is a CURVE certificate in the format of czmq's zcert (and
// pyzmq's zmq.auth): a ZPL text file with a "metadata" section of name =
// value pairs and a "curve" section holding public-key and, in the secret
// file only, secret-key, both in Z85. Existing Zyre deployments can reuse
// their certificates through LoadCertificate.
type Certificate struct {
	// Key holds the keys; Key.Secret is all zero for a certificate loaded
	// from a public file.
	Key KeyPair
	// Metadata holds the metadata section (names are ZPL names: letters,
	// digits and $-_@.&+/; values are single-line text). May be nil.
	Metadata map[string]string
}

// NewCertificate returns a certificate for kp with no metadata.
func NewCertificate(kp KeyPair) *Certificate { return &Certificate{Key: kp} }

// HasSecret reports whether the certificate holds a secret key.
func (c *Certificate) HasSecret() bool { return !isZero(c.Key.Secret[:]) }

// LoadCertificate loads a certificate the way czmq's zcert_load does: it
// reads path+SecretSuffix if that file exists (both keys), and path (the
// public key only) otherwise.
func LoadCertificate(path string) (*Certificate, error) {
	data, err := os.ReadFile(path + SecretSuffix)
	name := path + SecretSuffix
	if errors.Is(err, fs.ErrNotExist) {
		data, err = os.ReadFile(path)
		name = path
	}
	if err != nil {
		return nil, err
	}
	c, err := ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// ParseCertificate parses the text of a public or secret certificate. When
// the text holds a secret key (not all zero), the public key must belong
// to it.
func ParseCertificate(text []byte) (*Certificate, error) {
	root, err := parseZPL(text)
	if err != nil {
		return nil, err
	}
	curve := root.child("curve")
	if curve == nil {
		return nil, fmt.Errorf("%w: no curve section", ErrCertificate)
	}
	pubItem := curve.child("public-key")
	if pubItem == nil {
		return nil, fmt.Errorf("%w: no curve/public-key", ErrCertificate)
	}
	pub, err := ParseKey(pubItem.value)
	if err != nil {
		return nil, fmt.Errorf("%w: curve/public-key: %w", ErrCertificate, err)
	}
	c := &Certificate{Key: KeyPair{Public: pub}}
	if secItem := curve.child("secret-key"); secItem != nil {
		sec, err := ParseKey(secItem.value)
		if err != nil {
			return nil, fmt.Errorf("%w: curve/secret-key: %w", ErrCertificate, err)
		}
		if !isZero(sec[:]) { // czmq writes 40 '0's when it has no secret
			c.Key.Secret = sec
			if err := c.Key.Validate(); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrCertificate, err)
			}
		}
	}
	if md := root.child("metadata"); md != nil && len(md.children) > 0 {
		c.Metadata = make(map[string]string, len(md.children))
		for _, item := range md.children {
			c.Metadata[item.name] = item.value
		}
	}
	return c, nil
}

// MarshalPublic returns the text of the public certificate, in the layout
// czmq's zcert_save_public writes.
func (c *Certificate) MarshalPublic() ([]byte, error) {
	return c.marshal(false)
}

// MarshalSecret returns the text of the secret certificate, in the layout
// czmq's zcert_save_secret writes. It fails if there is no secret key.
func (c *Certificate) MarshalSecret() ([]byte, error) {
	if !c.HasSecret() {
		return nil, fmt.Errorf("%w: no secret key", ErrCertificate)
	}
	return c.marshal(true)
}

func (c *Certificate) marshal(secret bool) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "#   ****  Generated on %s by gozyre  ****\n", time.Now().Format("2006-01-02 15:04:05"))
	if secret {
		b.WriteString("#   ZeroMQ CURVE **Secret** Certificate\n")
		b.WriteString("#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n")
	} else {
		b.WriteString("#   ZeroMQ CURVE Public Certificate\n")
		b.WriteString("#   Exchange securely, or use a secure mechanism to verify the contents\n")
		b.WriteString("#   of this file after exchange. Store public certificates in your home\n")
		b.WriteString("#   directory, in the .curve subdirectory.\n")
	}
	b.WriteString("\nmetadata\n")
	names := make([]string, 0, len(c.Metadata))
	for name := range c.Metadata {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !validZPLName(name) {
			return nil, fmt.Errorf("%w: metadata name %q is not a ZPL name", ErrCertificate, name)
		}
		v, err := quoteZPL(c.Metadata[name])
		if err != nil {
			return nil, fmt.Errorf("%w: metadata %q: %w", ErrCertificate, name, err)
		}
		fmt.Fprintf(&b, "    %s = %s\n", name, v)
	}
	b.WriteString("curve\n")
	fmt.Fprintf(&b, "    public-key = \"%s\"\n", c.Key.PublicText())
	if secret {
		fmt.Fprintf(&b, "    secret-key = \"%s\"\n", c.Key.SecretText())
	}
	return b.Bytes(), nil
}

// Save writes the public certificate to path (mode 0644) and, when there
// is a secret key, the secret certificate to path+SecretSuffix (mode 0600),
// like czmq's zcert_save.
func (c *Certificate) Save(path string) error {
	if err := c.SavePublic(path); err != nil {
		return err
	}
	if !c.HasSecret() {
		return nil
	}
	return c.SaveSecret(path + SecretSuffix)
}

// SavePublic writes the public certificate to path (mode 0644).
func (c *Certificate) SavePublic(path string) error {
	text, err := c.MarshalPublic()
	if err != nil {
		return err
	}
	return os.WriteFile(path, text, 0o644)
}

// SaveSecret writes the secret certificate to path with mode 0600 (an
// existing file is truncated and set to 0600 first).
func (c *Certificate) SaveSecret(path string) error {
	text, err := c.MarshalSecret()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// zplNode is one item of a ZPL tree.
type zplNode struct {
	name     string
	value    string
	children []*zplNode
}

func (n *zplNode) child(name string) *zplNode {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// parseZPL parses ZPL (ZeroMQ RFC 4) as czmq's zconfig does: one item per
// line, indented by multiples of 4 spaces, "name" or "name = value" with
// the value quoted ('…' or "…") or bare up to a '#'; whole-line comments
// start with '#'; blank lines are ignored.
func parseZPL(text []byte) (*zplNode, error) {
	root := &zplNode{name: "root"}
	// path[i] is the latest item at depth i (root at 0).
	path := []*zplNode{root}
	for lineno, line := range strings.Split(string(text), "\n") {
		lineno++
		line = strings.TrimRight(line, " \t\r\v\f")
		if line == "" || line[0] == '#' {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if indent%4 != 0 {
			return nil, fmt.Errorf("%w: line %d: indent by 4 spaces at a time", ErrCertificate, lineno)
		}
		level := indent / 4
		rest := line[indent:]
		end := 0
		for end < len(rest) && isZPLNameChar(rest[end]) {
			end++
		}
		name := rest[:end]
		if name == "" {
			if r := strings.TrimSpace(rest); r != "" && r[0] != '#' {
				return nil, fmt.Errorf("%w: line %d: invalid syntax %q", ErrCertificate, lineno, rest)
			}
			continue
		}
		if name[0] == '/' || name[len(name)-1] == '/' {
			return nil, fmt.Errorf("%w: line %d: '/' not valid at name start or end", ErrCertificate, lineno)
		}
		value, err := zplValue(rest[end:])
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrCertificate, lineno, err)
		}
		if level >= len(path) {
			return nil, fmt.Errorf("%w: line %d: indentation error", ErrCertificate, lineno)
		}
		parent := path[level]
		item := &zplNode{name: name, value: value}
		parent.children = append(parent.children, item)
		path = append(path[:level+1], item)
	}
	return root, nil
}

// zplValue parses what follows a name: nothing (or a comment), or "=" and
// a quoted or bare value.
func zplValue(s string) (string, error) {
	s = strings.TrimLeft(s, " \t")
	if s == "" || s[0] == '#' {
		return "", nil
	}
	if s[0] != '=' {
		return "", fmt.Errorf("invalid syntax %q", s)
	}
	s = strings.TrimLeft(s[1:], " \t")
	if s != "" && (s[0] == '"' || s[0] == '\'') {
		end := strings.IndexByte(s[1:], s[0])
		if end < 0 {
			return "", fmt.Errorf("missing %c", s[0])
		}
		value := s[1 : 1+end]
		if r := strings.TrimSpace(s[2+end:]); r != "" && r[0] != '#' {
			return "", fmt.Errorf("invalid syntax %q after value", r)
		}
		return value, nil
	}
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimRight(s, " \t"), nil
}

func isZPLNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("$-_@.&+/", c) >= 0
}

func validZPLName(name string) bool {
	if name == "" || name[0] == '/' || name[len(name)-1] == '/' {
		return false
	}
	for i := range len(name) {
		if !isZPLNameChar(name[i]) {
			return false
		}
	}
	return true
}

// quoteZPL quotes a metadata value with double quotes, or single quotes
// when it holds a double quote.
func quoteZPL(v string) (string, error) {
	if strings.ContainsAny(v, "\r\n") {
		return "", errors.New("value spans lines")
	}
	if !strings.Contains(v, `"`) {
		return `"` + v + `"`, nil
	}
	if !strings.Contains(v, "'") {
		return "'" + v + "'", nil
	}
	return "", errors.New("value holds both kinds of quote")
}
