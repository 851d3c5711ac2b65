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
