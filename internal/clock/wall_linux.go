//go:build linux

package clock

import (
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// WallTimer is a timerfd on CLOCK_REALTIME armed at the absolute time at,
// with TFD_TIMER_CANCEL_ON_SET: the kernel wakes it at at, after a
// suspend too, and as soon as the wall clock is set. No wake-up happens
// in between, however far away at is. Where a timerfd cannot be made, it
// polls as other systems do.
func (Real) WallTimer(at time.Time) (<-chan time.Time, func() bool) {
	ch := make(chan time.Time, 1)
	// Compared as the kernel will: wall clock against wall clock.
	at = at.Round(0)
	if !at.After(time.Now().Round(0)) {
		ch <- time.Now()
		return ch, func() bool { return false }
	}
	value, err := unix.TimeToTimespec(at)
	if err != nil {
		return polledWallTimer(at)
	}
	fd, err := unix.TimerfdCreate(unix.CLOCK_REALTIME, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return polledWallTimer(at)
	}
	spec := unix.ItimerSpec{Value: value}
	if err := unix.TimerfdSettime(fd, unix.TFD_TIMER_ABSTIME|unix.TFD_TIMER_CANCEL_ON_SET, &spec, nil); err != nil {
		unix.Close(fd)
		return polledWallTimer(at)
	}
	// A non-blocking fd goes to the runtime's poller: the goroutine below
	// waits without holding a thread.
	f := os.NewFile(uintptr(fd), "timerfd")
	var mu sync.Mutex
	done := false
	go func() {
		// The read returns at expiry, fails with ECANCELED when the clock
		// was set, and fails when stop closes the file. The first two fire.
		_, _ = f.Read(make([]byte, 8))
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		done = true
		f.Close()
		ch <- time.Now()
	}()
	return ch, func() bool {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return false
		}
		done = true
		f.Close()
		return true
	}
}
