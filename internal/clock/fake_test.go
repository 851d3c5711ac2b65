package clock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/clock"
)

func TestFakeFiresInDeadlineOrder(t *testing.T) {
	start := time.Unix(1000, 0)
	c := clock.NewFake(start)
	var order []string
	c.AfterFunc(3*time.Second, func() { order = append(order, "3s") })
	stop := c.AfterFunc(2*time.Second, func() { order = append(order, "2s-stopped") })
	c.AfterFunc(time.Second, func() { order = append(order, "1s") })
	ch, _ := c.Timer(2 * time.Second)
	if !stop() {
		t.Fatal("stop of a pending timer reported false")
	}
	if c.Waiters() != 1 {
		t.Fatalf("Waiters = %d, want 1", c.Waiters())
	}
	c.Add(5 * time.Second)
	if got := <-ch; !got.Equal(start.Add(2 * time.Second)) {
		t.Errorf("timer fired at %s, want its deadline", got)
	}
	if len(order) != 2 || order[0] != "1s" || order[1] != "3s" {
		t.Errorf("order = %v", order)
	}
	if !c.Now().Equal(start.Add(5 * time.Second)) {
		t.Errorf("Now = %s", c.Now())
	}
	if c.Waiters() != 0 {
		t.Errorf("fired timer still counted")
	}
}

func TestSleepAndTimeoutOnFake(t *testing.T) {
	c := clock.NewFake(time.Unix(0, 0))
	ctx, cancel := clock.WithTimeout(context.Background(), c, time.Minute)
	defer cancel()
	done := make(chan error)
	go func() { done <- clock.Sleep(context.Background(), c, time.Hour) }()
	for {
		changed := c.Changed() // before the count, so no change is missed
		if c.Waiters() > 0 {
			break
		}
		<-changed
	}
	if !c.AdvanceToNext() || ctx.Err() == nil {
		t.Fatal("the 1-minute timeout should fire first")
	}
	c.AdvanceToNext()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := clock.Sleep(cctx, c, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a cancelled context = %v", err)
	}
	if c.Waiters() != 0 {
		t.Fatal("an abandoned sleep is still counted as a waiter")
	}
}

func TestStepWallMovesNowButFiresNoTimer(t *testing.T) {
	start := time.Unix(0, 0)
	c := clock.NewFake(start)
	ch, _ := c.Timer(30 * time.Minute)
	c.StepWall(2 * time.Hour)
	if got := c.Now(); !got.Equal(start.Add(2 * time.Hour)) {
		t.Fatalf("Now after StepWall = %s", got)
	}
	select {
	case <-ch:
		t.Fatal("a wall step fired a monotonic timer")
	default:
	}
	next, ok := c.Next()
	if !ok || !next.Equal(start.Add(2*time.Hour+30*time.Minute)) {
		t.Fatalf("Next = %s %v, want the timer's deadline on the wall clock", next, ok)
	}
	c.Add(30 * time.Minute)
	if got := <-ch; !got.Equal(start.Add(2*time.Hour + 30*time.Minute)) {
		t.Fatalf("timer fired at %s", got)
	}
}

// A fake WallTimer fires at its wall time, and at once when the wall clock
// jumps, as the kernel wakes a CLOCK_REALTIME timerfd that asked to be
// cancelled on a clock set. A Timer is not woken by the jump.
func TestFakeWallTimer(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := clock.NewFake(start)
	wall, _ := c.WallTimer(start.Add(time.Hour))
	mono, _ := c.Timer(time.Hour)
	c.StepWall(time.Minute)
	select {
	case got := <-wall:
		if !got.Equal(start.Add(time.Minute)) {
			t.Fatalf("woken at %s, want the stepped time", got)
		}
	default:
		t.Fatal("a wall-clock step did not wake the wall timer")
	}
	select {
	case <-mono:
		t.Fatal("a wall-clock step fired a monotonic timer")
	default:
	}
	again, _ := c.WallTimer(start.Add(time.Hour))
	c.Add(58 * time.Minute)
	select {
	case <-again:
		t.Fatal("fired before its wall time")
	default:
	}
	c.Add(time.Minute)
	select {
	case got := <-again:
		if !got.Equal(start.Add(time.Hour)) {
			t.Fatalf("fired at %s, want %s", got, start.Add(time.Hour))
		}
	default:
		t.Fatal("did not fire at its wall time")
	}
}
