//go:build !linux

package clock

import "time"

// WallTimer polls: this system gives no notice of a wall-clock jump.
func (Real) WallTimer(at time.Time) (<-chan time.Time, func() bool) { return polledWallTimer(at) }
