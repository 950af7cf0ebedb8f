//go:build !race

package zyre_test

const raceEnabled = false
