package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gozyre/zyre"
)

// common holds the flags every subcommand has.
type common struct {
	name     string
	iface    string
	ipv6     bool
	dual     bool
	port     int
	interval time.Duration
	headers  headerFlag
	evasive  time.Duration
	expired  time.Duration
	verbose  bool
	logJSON  bool

	gossipConnect endpointList
	beaconGroups  groupList
	gossipBind    string
	advertise     string
	certFile      string
	allowFile     string
	noBeacon      bool

	// loaded by check from certFile and allowFile
	curve *zyre.KeyPair
	allow []zyre.PublicKey
}

// commonDefaults are the defaults of the common flags; demo changes some.
type commonDefaults struct {
	iface    string
	port     int
	interval time.Duration
}

var defaultCommon = commonDefaults{port: zyre.DefaultBeaconPort, interval: zyre.DefaultBeaconInterval}

// cmdFlags is a subcommand's FlagSet and its usage text.
type cmdFlags struct {
	*flag.FlagSet
	usage func()
}

// newFlagSet returns a FlagSet for a subcommand with the common flags
// registered. It never prints or exits by itself: parse reports errors.
func newFlagSet(e *env, name, synopsis, summary string, d commonDefaults) (*cmdFlags, *common) {
	cf := newBareFlagSet(e, name, synopsis, summary)
	fs := cf.FlagSet
	c := &common{headers: headerFlag{}}
	fs.StringVar(&c.name, "name", "", "node `name` (default: the first 6 hex digits of its UUID)")
	fs.StringVar(&c.iface, "iface", d.iface, "network `interface` name (lo, eth0) or one of its addresses (default: $ZSYS_INTERFACE, else the first broadcast-capable interface)")
	fs.BoolVar(&c.ipv6, "ipv6", false, "beacon by IPv6 multicast (ff02::1) on the interface's IPv6 address, instead of IPv4 broadcast")
	fs.BoolVar(&c.dual, "dual-stack", false, "beacon by IPv4 broadcast and IPv6 multicast together, the mailbox on both addresses (with --ipv6 the IPv6 side is the endpoint shown and gossiped)")
	fs.IntVar(&c.port, "port", d.port, "UDP beacon `port`")
	fs.DurationVar(&c.interval, "interval", d.interval, "beacon `interval`")
	fs.Var(c.headers, "header", "`K=V` header sent to peers in HELLO (repeatable)")
	fs.DurationVar(&c.evasive, "evasive", zyre.DefaultEvasiveTimeout, "silence after which a peer is evasive (and pinged)")
	fs.DurationVar(&c.expired, "expired", zyre.DefaultExpiredTimeout, "silence after which a peer is gone")
	fs.BoolVar(&c.verbose, "v", false, "debug logging to stderr")
	fs.BoolVar(&c.logJSON, "log-json", false, "log as JSON lines")
	fs.Var(&c.beaconGroups, "beacon-group", "also beacon to and listen on this IPv4 multicast `group` (repeatable), as other ZRE ports do: 225.25.25.25, 224.0.0.250")
	fs.Var(&c.gossipConnect, "gossip-connect", "gossip server `endpoint` to find peers through, tcp://IP:PORT (repeatable): discovery across subnets; with --cert, 'tcp://IP:PORT|KEY' (the server's public key) makes the link CURVE")
	fs.StringVar(&c.gossipBind, "gossip-bind", "", "also serve gossip to other nodes at this `endpoint`, tcp://ADDR:PORT")
	fs.StringVar(&c.advertise, "advertise", "", "`endpoint` announced to peers instead of the mailbox's own, tcp://IP:PORT (NAT, containers)")
	fs.StringVar(&c.certFile, "cert", "", "CURVE certificate `file` (czmq zcert; see 'zyre keygen'): encrypt and authenticate every connection")
	fs.StringVar(&c.allowFile, "allow", "", "with --cert, accept only these peers: a `file` of Z85 public keys, one per line ('#' lines and text after a key are comments), or a directory of czmq public certificates")
	fs.BoolVar(&c.noBeacon, "no-beacon", false, "no UDP beacons: find peers through gossip only")
	return cf, c
}

// newBareFlagSet returns a FlagSet for a subcommand without the common
// (node) flags.
func newBareFlagSet(e *env, name, synopsis, summary string) *cmdFlags {
	fs := flag.NewFlagSet("zyre "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // errors are reported in one line by parse
	usage := func() {
		w := e.stdout
		if synopsis != "" {
			synopsis = " " + synopsis
		}
		fmt.Fprintf(w, "usage: zyre %s [flags]%s\n\n%s\n\nflags:\n", name, synopsis, summary)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return &cmdFlags{FlagSet: fs, usage: usage}
}

// parse parses args, allowing flags after positional arguments
// ("zyre cat GROUP --wait 5s"), and returns the positional arguments.
// "-h" prints the usage on stdout and returns flag.ErrHelp (exit code 0);
// any other problem is a one-line usage error (exit code 2).
func parse(fs *cmdFlags, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.usage()
				return nil, err
			}
			return nil, usageErrorf("%v (see '%s -h')", err, fs.Name())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// headerFlag collects repeated --header K=V flags.
type headerFlag map[string]string

func (h headerFlag) String() string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + h[k])
	}
	return b.String()
}

func (h headerFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return errors.New("want K=V")
	}
	if len(k) > 255 {
		return errors.New("header name longer than 255 bytes")
	}
	h[k] = v
	return nil
}

// check validates the common flags (exit code 2 when bad). allowZeroPort
// lets demo use port 0 for "pick a random one".
func (c *common) check(allowZeroPort bool) error {
	switch {
	case c.port < 0 || c.port > 65535 || (c.port == 0 && !allowZeroPort):
		return usageErrorf("invalid --port %d: want 1 to 65535", c.port)
	case c.interval <= 0:
		return usageErrorf("invalid --interval %v: must be positive", c.interval)
	case c.evasive <= 0:
		return usageErrorf("invalid --evasive %v: must be positive", c.evasive)
	case c.expired <= 0:
		return usageErrorf("invalid --expired %v: must be positive", c.expired)
	case c.expired < c.evasive:
		return usageErrorf("invalid --expired %v: shorter than --evasive %v", c.expired, c.evasive)
	case len(c.name) > 255:
		return usageErrorf("invalid --name: longer than 255 bytes")
	case c.noBeacon && len(c.gossipConnect) == 0 && c.gossipBind == "":
		return usageErrorf("--no-beacon needs --gossip-connect or --gossip-bind: the node would find no one")
	}
	c.gossipBind = withScheme(c.gossipBind)
	c.advertise = withScheme(c.advertise)
	var err error
	c.curve, c.allow, err = loadCurve(c.certFile, c.allowFile)
	return err
}

// loadCurve loads --cert (a certificate with its secret key) and --allow
// (public keys); both are optional, but --allow needs --cert.
func loadCurve(certFile, allowFile string) (*zyre.KeyPair, []zyre.PublicKey, error) {
	if allowFile != "" && certFile == "" {
		return nil, nil, usageErrorf("--allow needs --cert: peers are authenticated in CURVE mode only")
	}
	var curve *zyre.KeyPair
	if certFile != "" {
		kp, err := zyre.LoadCertificate(certFile)
		if err != nil {
			return nil, nil, usageErrorf("--cert: %v", err)
		}
		if kp.Secret == ([32]byte{}) {
			return nil, nil, usageErrorf("--cert %s: no secret key (is %s_secret there?)", certFile, certFile)
		}
		curve = &kp
	}
	var allow []zyre.PublicKey
	if allowFile != "" {
		keys, err := loadAllowList(allowFile)
		if err != nil {
			return nil, nil, usageErrorf("--allow: %v", err)
		}
		allow = keys
	}
	return curve, allow, nil
}

// endpointList collects repeated endpoint flags; "IP:PORT" gets tcp://.
// groupList collects --beacon-group values.
type groupList []netip.Addr

func (l *groupList) String() string { return fmt.Sprint([]netip.Addr(*l)) }
func (l *groupList) Set(v string) error {
	a, err := netip.ParseAddr(v)
	if err != nil || !a.Is4() || !a.IsMulticast() {
		return fmt.Errorf("%q is not an IPv4 multicast address", v)
	}
	*l = append(*l, a)
	return nil
}

type endpointList []string

func (l *endpointList) String() string { return strings.Join(*l, ",") }
func (l *endpointList) Set(v string) error {
	if v == "" {
		return errors.New("empty endpoint")
	}
	*l = append(*l, withScheme(v))
	return nil
}

// withScheme turns "IP:PORT" into "tcp://IP:PORT" (anything else is kept
// for zyre.New to judge).
func withScheme(ep string) string {
	if ep != "" && !strings.Contains(ep, "://") {
		return "tcp://" + ep
	}
	return ep
}

// loadAllowList reads the public keys of --allow: a file of Z85 keys, one
// per line (see the flag's help for comments), or a directory of czmq
// certificates (each file but the "_secret" ones).
func loadAllowList(path string) ([]zyre.PublicKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	keys := []zyre.PublicKey{} // not nil: an empty list allows no one
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), "_secret") || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			kp, err := zyre.LoadCertificate(filepath.Join(path, e.Name()))
			if err != nil {
				return nil, err
			}
			keys = append(keys, kp.Public)
		}
		return keys, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for i, line := range strings.Split(string(data), "\n") {
		// '#' is a Z85 character, so it cannot start a comment inside a
		// key; but no 32-byte key's Z85 text starts with it (its first
		// digit is at most 82 of 85), so a line starting with '#' is a
		// comment. Words after the key are comments too.
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		k, err := zyre.ParsePublicKey(f[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// logger returns the logger the flags ask for: warnings and errors by
// default, everything with -v; text or JSON.
func (c *common) logger(w io.Writer) *slog.Logger { return newLogger(w, c.verbose, c.logJSON) }

func newLogger(w io.Writer, verbose, asJSON bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if asJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// config returns the node configuration the common flags describe.
func (c *common) config(log *slog.Logger) *zyre.Config {
	var headers map[string]string
	if len(c.headers) > 0 {
		headers = map[string]string(c.headers)
	}
	return &zyre.Config{
		Name:           c.name,
		Headers:        headers,
		Interface:      c.iface,
		IPv6:           c.ipv6,
		DualStack:      c.dual,
		BeaconPort:     c.port,
		BeaconInterval: c.interval,
		EvasiveTimeout: c.evasive,
		ExpiredTimeout: c.expired,
		Logger:         log,

		DisableBeacon:      c.noBeacon,
		BeaconGroups:       c.beaconGroups,
		GossipConnect:      c.gossipConnect,
		GossipBind:         c.gossipBind,
		AdvertisedEndpoint: c.advertise,
		Curve:              c.curve,
		AllowKeys:          c.allow,
	}
}

// startTimeout bounds Node.Start.
const startTimeout = 10 * time.Second

// shutdownTimeout bounds a polite Shutdown; after it the node is closed.
const shutdownTimeout = 3 * time.Second

// startNode creates and starts a node. A bad configuration is a usage
// error (exit code 2); a failure to start is exit code 1, with a hint.
func startNode(ctx context.Context, cfg *zyre.Config) (*zyre.Node, error) {
	n, err := zyre.New(cfg)
	if err != nil {
		var ce *zyre.ConfigError
		if errors.As(err, &ce) {
			return nil, usageErrorf("%v", err)
		}
		return nil, failf("%v", err)
	}
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := n.Start(sctx); err != nil {
		n.Close()
		msg := fmt.Sprintf("cannot start node: %v", err)
		if strings.Contains(err.Error(), "interface") {
			msg += fmt.Sprintf(" (--iface %q; interfaces here: %s)", cfg.Interface, interfaceList())
		}
		return nil, failf("%s", msg)
	}
	return n, nil
}

// interfaceList names the interfaces that are up, with their addresses.
func interfaceList() string {
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) == 0 {
		return "none found"
	}
	var parts []string
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		s := ifc.Name
		if addrs, err := ifc.Addrs(); err == nil {
			var as []string
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
					as = append(as, ipn.IP.String())
				}
			}
			if len(as) > 0 {
				s += " " + strings.Join(as, ",")
			}
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "none up"
	}
	return strings.Join(parts, "; ")
}

// shutdown leaves politely, bounded by shutdownTimeout (then closes).
func shutdown(n *zyre.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	n.Shutdown(ctx)
}

// shutdownOn shuts n down when ctx ends (a signal), unless done is closed
// first. It returns at once.
func shutdownOn(ctx context.Context, n *zyre.Node, done <-chan struct{}) {
	go func() {
		select {
		case <-ctx.Done():
			shutdown(n)
		case <-done:
		}
	}()
}
