//go:build linux

package clock_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/clock"
)

// The real WallTimer fires at its wall-clock time, not before.
func TestRealWallTimerFiresAtItsTime(t *testing.T) {
	at := time.Now().Add(20 * time.Millisecond)
	c, stop := clock.Real{}.WallTimer(at)
	defer stop()
	select {
	case got := <-c:
		if got.Before(at) {
			t.Fatalf("fired at %s, before %s", got, at)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the wall timer never fired")
	}
	if stop() {
		t.Fatal("stop after firing reported a stopped timer")
	}
}

func TestRealWallTimerPastFiresAtOnce(t *testing.T) {
	c, _ := clock.Real{}.WallTimer(time.Now().Add(-time.Hour))
	select {
	case <-c:
	default:
		t.Fatal("a wall timer for a past time did not fire at once")
	}
}

// A stopped WallTimer never fires, and its waiting goroutine ends: a
// refresher re-arms one at every wake-up.
func TestRealWallTimerStopEndsItsWait(t *testing.T) {
	before := runtime.NumGoroutine()
	var chans []<-chan time.Time
	for range 100 {
		c, stop := clock.Real{}.WallTimer(time.Now().Add(time.Hour))
		if !stop() {
			t.Fatal("stop before firing reported nothing stopped")
		}
		chans = append(chans, c)
	}
	deadline := time.After(10 * time.Second)
	for runtime.NumGoroutine() > before {
		select {
		case <-deadline:
			t.Fatalf("%d goroutines after stopping 100 wall timers, %d before", runtime.NumGoroutine(), before)
		case <-time.After(time.Millisecond):
		}
	}
	for _, c := range chans {
		select {
		case <-c:
			t.Fatal("a stopped wall timer fired")
		default:
		}
	}
}
