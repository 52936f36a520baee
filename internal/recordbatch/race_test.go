//go:build race

package recordbatch

// raceEnabled: the race detector's runtime drops sync.Pool items at random,
// so allocation counts are not meaningful under it.
const raceEnabled = true
