// Package pyzmq is a test helper: it finds Debian's python3-zmq, through
// which interop tests drive the real libzmq. The interpreter is called by
// full path because the python3 first on PATH may be another one without
// zmq. Without it tests skip, except when CI is set: there the interop
// tests are required and fail.
package pyzmq

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// Python is Debian's interpreter, the one that has python3-zmq.
const Python = "/usr/bin/python3"

var checks sync.Map // capability -> error (nil when present)

// Require skips t (or fails it when CI is set) unless python3-zmq is
// importable and libzmq has every capability listed (for example
// "curve"). It returns the libzmq version.
func Require(tb testing.TB, capabilities ...string) string {
	tb.Helper()
	key := strings.Join(capabilities, ",")
	v, _ := checks.LoadOrStore(key, sync.OnceValues(func() (string, error) {
		script := "import zmq\n"
		for _, c := range capabilities {
			script += fmt.Sprintf("assert zmq.has(%q), 'libzmq lacks %s'\n", c, c)
		}
		script += "print(zmq.zmq_version())"
		out, err := exec.Command(Python, "-c", script).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%s cannot use zmq (%s): %v: %s", Python, key, err, bytes.TrimSpace(out))
		}
		return strings.TrimSpace(string(out)), nil
	}))
	version, err := v.(func() (string, error))()
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("libzmq interop tests are required in CI: %v", err)
		}
		tb.Skipf("skipping libzmq interop test: %v", err)
	}
	return version
}
