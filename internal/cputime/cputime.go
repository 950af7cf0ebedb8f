// Package cputime reads the CPU time the process has used, for benchmarks
// that report CPU per operation next to wall time (on a machine shared
// with other work, CPU time is the steadier of the two).
package cputime

import "time"

// Process returns the process's user plus system CPU time so far, or 0
// where the platform does not say.
func Process() time.Duration { return process() }
