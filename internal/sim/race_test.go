//go:build race

package sim

// raceEnabled reports whether the race detector is on: the 1,000-node
// tests skip themselves under it.
const raceEnabled = true
