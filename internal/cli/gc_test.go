package cli

import (
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
