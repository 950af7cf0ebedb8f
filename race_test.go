//go:build race

package zyre_test

// raceEnabled skips the heaviest measurements under the race detector,
// where they are slow and measure nothing useful.
const raceEnabled = true
