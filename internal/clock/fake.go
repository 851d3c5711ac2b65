package clock

import (
	"sort"
	"sync"
	"time"
)

// Fake is a manual clock for tests. Time moves only through Add, Set and
// AdvanceToNext, which fire due timers in deadline order, and StepWall.
// Waiters counts the goroutines blocked on a Timer, so a test can wait for
// a loop to go idle before moving time on.
//
// Like the real clock it has two times: the wall clock that Now reads,
// and the monotonic clock that timers follow. They move together except
// through StepWall, which moves the wall clock alone, as a clock step or a
// suspended machine waking up does.
type Fake struct {
	mu      sync.Mutex
	now     time.Time     // the monotonic clock
	wall    time.Duration // how far the wall clock is ahead of it
	timers  []*fakeTimer
	seq     int
	changed chan struct{}
}

type fakeTimer struct {
	at     time.Time
	ch     chan time.Time // After
	f      func()         // AfterFunc
	seq    int
	active bool
	wall   bool // a WallTimer: StepWall fires it
}

// NewFake returns a fake clock set to start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, changed: make(chan struct{})}
}

func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now.Add(c.wall)
}

// StepWall moves the wall clock by d. Timers follow the monotonic clock,
// which a clock step or a suspend leaves behind: none fires, except every
// WallTimer, which a jump of the wall clock wakes as the kernel does.
func (c *Fake) StepWall(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall += d
	now := c.now.Add(c.wall)
	for _, t := range c.timers {
		if t.active && t.wall {
			t.active = false
			t.ch <- now
		}
	}
	c.prune()
	c.notify()
}

// notify wakes goroutines in WaitChange; callers hold mu.
func (c *Fake) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Fake) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timer(d, false)
}

// WallTimer fires when the wall clock reaches at, or when StepWall moves
// the wall clock.
func (c *Fake) WallTimer(at time.Time) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timer(at.Sub(c.now.Add(c.wall)), true)
}

// timer adds a channel timer d from now; callers hold mu.
func (c *Fake) timer(d time.Duration, wall bool) (<-chan time.Time, func() bool) {
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now.Add(c.wall)
		return ch, func() bool { return false }
	}
	c.seq++
	t := &fakeTimer{at: c.now.Add(d), ch: ch, seq: c.seq, active: true, wall: wall}
	c.timers = append(c.timers, t)
	c.notify()
	return ch, c.stopper(t)
}

func (c *Fake) stopper(t *fakeTimer) func() bool {
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := t.active
		t.active = false
		c.prune()
		return was
	}
}

func (c *Fake) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	c.seq++
	t := &fakeTimer{at: c.now.Add(d), f: f, seq: c.seq, active: true}
	c.timers = append(c.timers, t)
	c.notify()
	c.mu.Unlock()
	if d <= 0 {
		c.Add(0)
	}
	return c.stopper(t)
}

func (c *Fake) prune() {
	live := c.timers[:0]
	for _, t := range c.timers {
		if t.active {
			live = append(live, t)
		}
	}
	c.timers = live
}

// Waiters returns the number of pending Timer channels: goroutines that
// are (or are about to be) blocked waiting on the clock.
func (c *Fake) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if t.active && t.ch != nil {
			n++
		}
	}
	return n
}

// Changed returns a channel closed the next time a timer is added or time
// moves: a test blocks on it instead of sleeping.
func (c *Fake) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// Next returns the earliest pending deadline, on the wall clock, if any.
func (c *Fake) Next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best time.Time
	found := false
	for _, t := range c.timers {
		if t.active && (!found || t.at.Before(best)) {
			best, found = t.at, true
		}
	}
	return best.Add(c.wall), found
}

// Add moves time forward by d, firing every timer due on the way in
// deadline order, each at its own deadline.
func (c *Fake) Add(d time.Duration) {
	c.Set(c.Now().Add(d))
}

// Set moves time until the wall clock reads target (never backwards),
// firing due timers in order.
func (c *Fake) Set(wallTarget time.Time) {
	for {
		c.mu.Lock()
		target := wallTarget.Add(-c.wall)
		c.prune()
		sort.Slice(c.timers, func(i, j int) bool {
			if c.timers[i].at.Equal(c.timers[j].at) {
				return c.timers[i].seq < c.timers[j].seq
			}
			return c.timers[i].at.Before(c.timers[j].at)
		})
		if len(c.timers) == 0 || c.timers[0].at.After(target) {
			if target.After(c.now) {
				c.now = target
			}
			c.notify()
			c.mu.Unlock()
			return
		}
		t := c.timers[0]
		t.active = false
		c.timers = c.timers[1:]
		if t.at.After(c.now) {
			c.now = t.at
		}
		now := c.now.Add(c.wall)
		c.notify()
		c.mu.Unlock()
		if t.ch != nil {
			t.ch <- now
		} else {
			t.f()
		}
	}
}

// AdvanceToNext moves time to the earliest pending deadline and fires it;
// it reports false when nothing is pending.
func (c *Fake) AdvanceToNext() bool {
	at, ok := c.Next()
	if ok {
		c.Set(at)
	}
	return ok
}
