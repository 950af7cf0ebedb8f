//go:build race

package main

// raceEnabled builds the binary under test with -race too, so that the
// process tests catch data races in the command.
const raceEnabled = true
