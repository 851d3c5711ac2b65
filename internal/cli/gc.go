package cli

import "runtime/debug"

// defaultGCPercent is the daemon's GOGC unless the environment sets one.
// tc-credd's live heap is about 1.5 MB, so with Go's GOGC=100 the
// collector's 4 MB minimum target leaves some 2.5 MB between cycles; in a
// burst of SDK requests net/http's garbage (about 2.4 KB a request) then
// starts a collection every thousand requests. 150 raises the minimum
// target to 6 MB: collections about half as often, for some 2 MB of
// memory. docs/benchmarks.md has the measurements.
const defaultGCPercent = 150

// tuneGC applies defaultGCPercent unless GOGC is set; the environment
// always wins. It returns the percent now in force.
func tuneGC(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		p := debug.SetGCPercent(-1) // read it...
		debug.SetGCPercent(p)       // ...and put it back
		return p
	}
	debug.SetGCPercent(defaultGCPercent)
	return defaultGCPercent
}
