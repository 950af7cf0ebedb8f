package curve

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The libzmq test key pairs (zmq_curve(7), "Test Key Values").
const (
	zmqClientPublic = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
	zmqClientSecret = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"
	zmqServerPublic = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
	zmqServerSecret = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
)

func TestParseKeyPairLibzmqTestKeys(t *testing.T) {
	for _, kp := range [][2]string{{zmqClientPublic, zmqClientSecret}, {zmqServerPublic, zmqServerSecret}} {
		k, err := ParseKeyPair(kp[0], kp[1])
		if err != nil {
			t.Fatal(err)
		}
		if k.PublicText() != kp[0] || k.SecretText() != kp[1] {
			t.Fatalf("round trip: %s %s", k.PublicText(), k.SecretText())
		}
		derived, err := ParseKeyPair("", kp[1])
		if err != nil || derived != k {
			t.Fatalf("public key derived from the secret: %v, %v", derived, err)
		}
	}
	if _, err := ParseKeyPair(zmqClientPublic, zmqServerSecret); !errors.Is(err, ErrKey) {
		t.Fatalf("mismatched pair: %v, want ErrKey", err)
	}
}

func TestParseKeyErrors(t *testing.T) {
	for _, s := range []string{"", "short", zmqClientPublic + "x", strings.Replace(zmqClientPublic, "Y", " ", 1), "####################################################"[:40]} {
		if _, err := ParseKey(s); !errors.Is(err, ErrKey) {
			t.Errorf("ParseKey(%q) = %v, want ErrKey", s, err)
		}
	}
}

func TestGenerateKeyPair(t *testing.T) {
	a := testKey(t, 1)
	b := testKey(t, 1)
	if a != b {
		t.Fatal("same randomness, different keys")
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := GenerateKeyPair(nil)
	if err != nil || c == a {
		t.Fatalf("crypto/rand key: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKeyPair(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Fatal("short randomness accepted")
	}
	if err := (&KeyPair{}).Validate(); !errors.Is(err, ErrKey) {
		t.Fatalf("zero key pair: %v", err)
	}
}

func TestKeyPairNeverPrintsSecret(t *testing.T) {
	kp := testKey(t, 5)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out := fmt.Sprintf(verb, kp)
		if strings.Contains(out, kp.SecretText()) || strings.Contains(out, fmt.Sprintf("%x", kp.Secret[:])) {
			t.Errorf("%s prints the secret key: %s", verb, out)
		}
	}
	if !strings.Contains(kp.String(), kp.PublicText()) {
		t.Error("String lacks the public key")
	}
}

// czmqSecretCert is laid out as czmq's zcert_save_secret writes it.
const czmqSecretCert = `#   ****  Generated on 2024-03-01 10:00:00 by CZMQ  ****
#   ZeroMQ CURVE **Secret** Certificate
#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

metadata
    name = "alpha node"
    email = "ops@example.org"
curve
    public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
    secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
`

const czmqPublicCert = `#   ****  Generated on 2024-03-01 10:00:00 by CZMQ  ****
#   ZeroMQ CURVE Public Certificate
#   Exchange securely, or use a secure mechanism to verify the contents
#   of this file after exchange. Store public certificates in your home
#   directory, in the .curve subdirectory.

metadata
    name = "alpha node"
    email = "ops@example.org"
curve
    public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
`

func TestParseCertificate(t *testing.T) {
	c, err := ParseCertificate([]byte(czmqSecretCert))
	if err != nil {
		t.Fatal(err)
	}
	if !c.HasSecret() || c.Key.PublicText() != zmqServerPublic || c.Key.SecretText() != zmqServerSecret {
		t.Fatalf("keys %v", c.Key)
	}
	if c.Metadata["name"] != "alpha node" || c.Metadata["email"] != "ops@example.org" || len(c.Metadata) != 2 {
		t.Fatalf("metadata %v", c.Metadata)
	}
	p, err := ParseCertificate([]byte(czmqPublicCert))
	if err != nil {
		t.Fatal(err)
	}
	if p.HasSecret() || p.Key.Public != c.Key.Public {
		t.Fatalf("public certificate %v", p.Key)
	}
	// ZPL also allows bare and single-quoted values, comments, and a
	// secret key of 40 '0's (czmq's "no key").
	other := "metadata\n    a = bare value   # comment\n    b = 'say \"hi\"'\ncurve\n    public-key = '" + zmqServerPublic + "'\n    secret-key = \"0000000000000000000000000000000000000000\"\n"
	o, err := ParseCertificate([]byte(other))
	if err != nil {
		t.Fatal(err)
	}
	if o.HasSecret() || o.Metadata["a"] != "bare value" || o.Metadata["b"] != `say "hi"` {
		t.Fatalf("parsed %+v", o)
	}
}

func TestParseCertificateErrors(t *testing.T) {
	for name, text := range map[string]string{
		"no curve":          "metadata\n",
		"no public key":     "curve\n    secret-key = \"" + zmqServerSecret + "\"\n",
		"bad public key":    "curve\n    public-key = \"tooshort\"\n",
		"mismatched secret": "curve\n    public-key = \"" + zmqClientPublic + "\"\n    secret-key = \"" + zmqServerSecret + "\"\n",
		"bad indent":        "curve\n  public-key = \"" + zmqServerPublic + "\"\n",
		"too deep":          "curve\n        public-key = \"" + zmqServerPublic + "\"\n",
		"unterminated":      "curve\n    public-key = \"" + zmqServerPublic + "\n",
		"junk":              "curve\n    public-key \"x\"\n",
	} {
		if _, err := ParseCertificate([]byte(text)); !errors.Is(err, ErrCertificate) {
			t.Errorf("%s: %v, want ErrCertificate", name, err)
		}
	}
}

func TestCertificateSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.cert")
	c := NewCertificate(testKey(t, 3))
	c.Metadata = map[string]string{"name": `say "hi"`, "org": "gozyre"}
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path + SecretSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v", st.Mode().Perm())
	}
	pub, _ := os.ReadFile(path)
	if bytes.Contains(pub, []byte("secret-key")) {
		t.Fatal("public file holds the secret key")
	}
	got, err := LoadCertificate(path) // reads the secret file first
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != c.Key || got.Metadata["name"] != `say "hi"` || got.Metadata["org"] != "gozyre" {
		t.Fatalf("loaded %v %v", got.Key, got.Metadata)
	}
	if err := os.Remove(path + SecretSuffix); err != nil {
		t.Fatal(err)
	}
	got, err = LoadCertificate(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.HasSecret() || got.Key.Public != c.Key.Public {
		t.Fatalf("public load: %v", got.Key)
	}
	if _, err := got.MarshalSecret(); !errors.Is(err, ErrCertificate) {
		t.Fatalf("MarshalSecret without secret: %v", err)
	}
	if _, err := LoadCertificate(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	bad := NewCertificate(testKey(t, 4))
	bad.Metadata = map[string]string{"bad name": "x"}
	if _, err := bad.MarshalPublic(); !errors.Is(err, ErrCertificate) {
		t.Fatalf("bad metadata name: %v", err)
	}
}
