package authclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/authclient"
	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/hawk"
)

func TestRetries(t *testing.T) {
	cases := []struct {
		name      string
		fault     authtest.Fault
		times     int
		wantCalls int
		wantErr   bool
		retryable bool
	}{
		{"500 until it gives up", authtest.Fault500, -1, 6, true, true},
		{"text 503 until it gives up", authtest.Fault503, -1, 6, true, true},
		{"reset twice then success", authtest.FaultReset, 2, 3, false, false},
		{"500 once then success", authtest.Fault500, 1, 2, false, false},
		{"401 never retried", authtest.Fault401, -1, 1, true, false},
		{"403 never retried", authtest.Fault403, -1, 1, true, false},
		{"malformed JSON not retried", authtest.FaultMalformedJSON, -1, 1, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, authtest.Options{})
			tok := e.fake.AddClient("c", "auth:sentry:*")
			cl := e.client(t, &hawk.Credentials{ClientID: "c", AccessToken: tok})
			e.fake.InjectFault("sentryDSN", c.fault, c.times)
			_, err := cl.SentryDSN(context.Background(), "p")
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v", err)
			}
			if got := e.fake.Calls("sentryDSN"); got != c.wantCalls {
				t.Errorf("calls = %d, want %d", got, c.wantCalls)
			}
			if c.wantErr && authclient.Retryable(err) != c.retryable {
				t.Errorf("Retryable(%v) = %v", err, !c.retryable)
			}
			if len(*e.sleeps) != c.wantCalls-1 {
				t.Errorf("sleeps = %v, want %d", *e.sleeps, c.wantCalls-1)
			}
		})
	}
}

func TestBackoffSchedule(t *testing.T) {
	c, err := authclient.New(authclient.Options{RootURL: "http://x", Jitter: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{100, 200, 400, 800, 1600}
	for i, w := range want {
		if got := c.Backoff(i); got != w*time.Millisecond {
			t.Errorf("Backoff(%d) = %s, want %s", i, got, w*time.Millisecond)
		}
	}
	if got := c.Backoff(20); got != authclient.DefaultMaxDelay {
		t.Errorf("Backoff(20) = %s, want the cap", got)
	}
	lo, _ := authclient.New(authclient.Options{RootURL: "http://x", Jitter: func() float64 { return 0 }})
	hi, _ := authclient.New(authclient.Options{RootURL: "http://x", Jitter: func() float64 { return 0.999999 }})
	if lo.Backoff(2) != 300*time.Millisecond || hi.Backoff(2) < 499*time.Millisecond {
		t.Errorf("jitter bounds: %s %s, want ±25%% of 400ms", lo.Backoff(2), hi.Backoff(2))
	}
}

func TestCancelledContextStopsAtOnce(t *testing.T) {
	e := newEnv(t, authtest.Options{})
	tok := e.fake.AddClient("c", "auth:sentry:*")
	// The real sleeper, so that a cancelled context must cut it short.
	cl, err := authclient.New(authclient.Options{RootURL: e.srv.URL, Credentials: &hawk.Credentials{ClientID: "c", AccessToken: tok}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = cl.SentryDSN(ctx, "p")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := e.fake.TotalCalls(); n != 0 {
		t.Errorf("a cancelled call reached the service %d times", n)
	}

	// Cancelled while the server hangs: the call ends and is not retried.
	e.fake.InjectFault("sentryDSN", authtest.FaultHang, -1)
	defer e.fake.ClearFaults()
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := cl.SentryDSN(ctx, "p")
		done <- err
	}()
	waitUntil(t, "the request to reach the service", func() bool { return e.fake.Calls("sentryDSN") > 0 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := e.fake.Calls("sentryDSN"); n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}

	// Cancelled during a backoff wait: the real sleeper returns at once.
	e.fake.ClearFaults()
	e.fake.InjectFault("ping", authtest.Fault500, -1)
	ctx, cancel = context.WithCancel(context.Background())
	slow, _ := authclient.New(authclient.Options{RootURL: e.srv.URL, BaseDelay: time.Hour, MaxDelay: time.Hour})
	go func() {
		_, err := slow.Ping(ctx)
		done <- err
	}()
	waitUntil(t, "the first attempt to reach the service", func() bool { return e.fake.Calls("ping") > 0 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestPerRequestTimeoutIsRetried(t *testing.T) {
	e := newEnv(t, authtest.Options{})
	tok := e.fake.AddClient("c", "auth:sentry:*")
	e.fake.InjectFault("sentryDSN", authtest.FaultHang, 2)
	cl := e.client(t, &hawk.Credentials{ClientID: "c", AccessToken: tok}, func(o *authclient.Options) {
		o.RequestTimeout = 50 * time.Millisecond
	})
	if _, err := cl.SentryDSN(context.Background(), "p"); err != nil {
		t.Fatalf("err = %v", err)
	}
	if n := e.fake.Calls("sentryDSN"); n != 3 {
		t.Errorf("calls = %d, want 3 (two timeouts, one success)", n)
	}
}

// A 429 or 503 with Retry-After is retried no sooner than it asks; one
// that asks for longer than the client's longest wait is returned at once,
// naming the wait, for the caller to schedule.
func TestRetriesHonourRetryAfter(t *testing.T) {
	for _, c := range []struct {
		name      string
		fault     authtest.Fault
		after     string
		wantCalls int
		wantSleep time.Duration // the first sleep, 0 for none
	}{
		{"503, Retry-After 7 s", authtest.Fault503, "7", 2, 7 * time.Second},
		{"429, Retry-After 20 s", authtest.Fault429, "20", 2, 20 * time.Second},
		{"503, Retry-After ten minutes", authtest.Fault503, "600", 1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, authtest.Options{})
			tok := e.fake.AddClient("c", "auth:sentry:*")
			cl := e.client(t, &hawk.Credentials{ClientID: "c", AccessToken: tok})
			e.fake.InjectRetryAfter("sentryDSN", c.fault, c.after, 1)
			_, err := cl.SentryDSN(context.Background(), "p")
			if got := e.fake.Calls("sentryDSN"); got != c.wantCalls {
				t.Fatalf("calls = %d, want %d (err %v)", got, c.wantCalls, err)
			}
			if c.wantSleep == 0 {
				if len(*e.sleeps) != 0 || authclient.RetryAfter(err) != 10*time.Minute {
					t.Fatalf("sleeps %v, err %v (asked %s); want no retry and the asked ten minutes", *e.sleeps, err, authclient.RetryAfter(err))
				}
				return
			}
			if err != nil || len(*e.sleeps) != 1 || (*e.sleeps)[0] != c.wantSleep {
				t.Fatalf("err %v, sleeps %v; want one sleep of %s", err, *e.sleeps, c.wantSleep)
			}
		})
	}
}
