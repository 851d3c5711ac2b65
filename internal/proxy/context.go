package proxy

import "context"

func withTarget(ctx context.Context, t *target) context.Context {
	return context.WithValue(ctx, targetKey{}, t)
}

func targetOf(ctx context.Context) *target { return ctx.Value(targetKey{}).(*target) }
