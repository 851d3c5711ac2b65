package cli

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)

	if got := tuneGC(func(string) string { return "" }); got != defaultGCPercent {
		t.Fatalf("tuneGC without GOGC = %d, want %d", got, defaultGCPercent)
	}
	if now := debug.SetGCPercent(100); now != defaultGCPercent {
		t.Fatalf("GC percent in force %d, want %d", now, defaultGCPercent)
	}
	// GOGC from the environment is left alone (the runtime applied it).
	env := func(k string) string {
		if k == "GOGC" {
			return "80"
		}
		return ""
	}
	if got := tuneGC(env); got != 100 {
		t.Fatalf("tuneGC with GOGC set = %d, want the percent already in force (100)", got)
	}
	if now := debug.SetGCPercent(100); now != 100 {
		t.Fatalf("GC percent changed to %d although GOGC is set", now)
	}
}

func TestProcsFor(t *testing.T) {
	for _, c := range []struct {
		name       string
		env        string
		def, cpus  int
		want       int
		wantChange bool
	}{
		{"a spare P beside the CPUs", "", 2, 2, 3, true},
		{"one CPU gets two", "", 1, 1, 2, true},
		{"a CPU quota keeps the runtime's default", "", 2, 8, 2, false},
		{"the environment wins", "2", 2, 2, 2, false},
		{"the environment wins under a quota too", "6", 6, 8, 6, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, change := procsFor(c.env, c.def, c.cpus)
			if got != c.want || change != c.wantChange {
				t.Fatalf("procsFor(%q, %d, %d) = %d, %v; want %d, %v", c.env, c.def, c.cpus, got, change, c.want, c.wantChange)
			}
		})
	}
}

func TestTuneProcs(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)

	// GOMAXPROCS in the environment: what is in force stays.
	runtime.GOMAXPROCS(1)
	if got := tuneProcs(func(k string) string {
		if k == "GOMAXPROCS" {
			return "1"
		}
		return ""
	}); got != 1 || runtime.GOMAXPROCS(0) != 1 {
		t.Fatalf("tuneProcs with GOMAXPROCS set returned %d, in force %d; want 1 and 1", got, runtime.GOMAXPROCS(0))
	}
	// Without it, the value procsFor picks is the one in force.
	runtime.GOMAXPROCS(runtime.NumCPU())
	got := tuneProcs(func(string) string { return "" })
	if got != runtime.NumCPU()+1 || runtime.GOMAXPROCS(0) != got {
		t.Fatalf("tuneProcs = %d, in force %d; want %d", got, runtime.GOMAXPROCS(0), runtime.NumCPU()+1)
	}
}
