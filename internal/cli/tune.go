package cli

import (
	"runtime"
	"runtime/debug"

	"go.uber.org/zap"
)

// tuneRuntime applies the daemon's collector and scheduler settings and
// logs them, so an operator sees what the environment left in force.
func tuneRuntime(getenv func(string) string, log *zap.Logger) {
	gc, procs := tuneGC(getenv), tuneProcs(getenv)
	log.Info("runtime settings", zap.Int("gogc", gc), zap.Int("gomaxprocs", procs))
}

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

// procsFor decides the daemon's GOMAXPROCS from the environment's
// GOMAXPROCS, the runtime's default and the CPUs the process may use. It
// returns the value and whether it differs from the one in force.
//
// tc-credd's clients run on the same cores as it does: every SDK that
// asks it for a credential is a local process. When the kernel preempts
// one of the daemon's threads to run a client, the requests queued on
// that thread's P wait a whole scheduler slice (milliseconds) for it,
// because with one P per CPU every other P is busy and none steals them.
// One P more than the CPUs lets another thread take them; under load from
// local clients this cut p99 latency by about a fifth at the same
// throughput (docs/benchmarks.md).
//
// A CPU quota (a container limit) lowers the runtime's default below the
// CPU count. There the spare P is not added: it would spend the quota
// faster and be throttled, and setting GOMAXPROCS stops the runtime from
// following quota changes. The environment always wins.
func procsFor(env string, def, cpus int) (int, bool) {
	if env != "" || def != cpus {
		return def, false
	}
	return cpus + 1, true
}

// tuneProcs applies procsFor and returns the GOMAXPROCS now in force.
func tuneProcs(getenv func(string) string) int {
	n, change := procsFor(getenv("GOMAXPROCS"), runtime.GOMAXPROCS(0), runtime.NumCPU())
	if change {
		runtime.GOMAXPROCS(n)
	}
	return n
}
