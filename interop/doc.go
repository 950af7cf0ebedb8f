// Package interop holds live interoperability tests and benchmarks of the
// ZMTP layer (internal/zmtp) against Debian's libzmq, driven through
// python3-zmq (/usr/bin/python3) with small scripts in testdata/. All
// traffic stays on 127.0.0.1.
//
// The tests skip when /usr/bin/python3 cannot import zmq, except when the
// CI environment variable is set: there they fail, so CI cannot go green
// without them. The libzmq side of BenchmarkOneWay is a small C program
// built with gcc against libzmq3-dev in a temporary directory; it is
// skipped when that is not possible.
//
// The package has no non-test code.
package interop
