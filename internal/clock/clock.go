// Package clock lets every time read and every wait below cmd go through
// one injected value, so that background loops are tested by advancing a
// fake clock instead of sleeping.
package clock

import (
	"context"
	"time"
)

// Clock is the time source.
type Clock interface {
	Now() time.Time
	// Timer is time.NewTimer: a channel that receives once after d, and
	// stop, which abandons it (so a fake clock stops counting its waiter).
	Timer(d time.Duration) (c <-chan time.Time, stop func() bool)
	// WallTimer receives once the wall clock reaches at, or sooner when
	// the wall clock jumps (it was stepped, or the machine woke from
	// sleep), so that the waiter reads the time again and decides. A wait
	// for a wall-clock deadline uses it, not Timer: Timer follows the
	// monotonic clock, which stands still while a machine sleeps.
	WallTimer(at time.Time) (c <-chan time.Time, stop func() bool)
	// AfterFunc is time.AfterFunc; stop cancels f if it has not run.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// Real is the system clock.
type Real struct{}

func (Real) Now() time.Time { return time.Now() }
func (Real) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}
func (Real) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// wallRecheck bounds a wall-clock wait where the system cannot say when
// the wall clock jumps: the waiter looks again at least this often, so a
// machine that slept acts within wallRecheck of waking.
const wallRecheck = 30 * time.Second

// polledWallTimer waits for at on the monotonic clock, for at most
// wallRecheck.
func polledWallTimer(at time.Time) (<-chan time.Time, func() bool) {
	return Real{}.Timer(min(time.Until(at), wallRecheck))
}

// Sleep waits d on c, or returns ctx.Err() when ctx ends first.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	ch, stop := c.Timer(d)
	defer stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-ch:
		return nil
	}
}

// WithTimeout is context.WithTimeout on c.
func WithTimeout(ctx context.Context, c Clock, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := c.AfterFunc(d, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}
