package authclient_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/authclient"
	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/hawk"
)

func TestParseRetryAfter(t *testing.T) {
	ref := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"120", 2 * time.Minute, true},
		{" 30 ", 30 * time.Second, true},
		{"900", authclient.MaxRetryAfter, true},
		{"901", authclient.MaxRetryAfter, true},
		{"86400", authclient.MaxRetryAfter, true},
		{"99999999999999999999999999", authclient.MaxRetryAfter, true},
		{ref.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{ref.Add(2 * time.Minute).Format(time.RFC850), 2 * time.Minute, true},
		{ref.Add(3 * time.Minute).Format(time.ANSIC), 3 * time.Minute, true},
		{ref.Add(2 * time.Hour).Format(http.TimeFormat), authclient.MaxRetryAfter, true},
		// No wait asked: the caller's own backoff applies.
		{"0", 0, false},
		{ref.Format(http.TimeFormat), 0, false},
		{ref.Add(-time.Minute).Format(http.TimeFormat), 0, false},
		// Malformed.
		{"", 0, false},
		{"-5", 0, false},
		{"+5", 0, false},
		{"1.5", 0, false},
		{"60s", 0, false},
		{"soon", 0, false},
		{"2026-12-02T15:01:00Z", 0, false},
	} {
		got, ok := authclient.ParseRetryAfter(c.value, ref)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseRetryAfter(%q) = %s, %v; want %s, %v", c.value, got, ok, c.want, c.ok)
		}
	}
}

// TestRetryAfterOnReplies: the wait reaches the error for 429 and 503
// only, and an HTTP-date is measured on the server's clock (its Date),
// whatever this machine's clock says.
func TestRetryAfterOnReplies(t *testing.T) {
	server := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name       string
		fault      authtest.Fault
		retryAfter string
		want       time.Duration
	}{
		{"503 with seconds", authtest.Fault503, "60", time.Minute},
		{"429 with a date", authtest.Fault429, server.Add(45 * time.Second).Format(http.TimeFormat), 45 * time.Second},
		{"429 with a bound", authtest.Fault429, "3600", authclient.MaxRetryAfter},
		{"503 without", authtest.Fault503, "", 0},
		{"500 is not asked to wait", authtest.Fault500, "60", 0},
		{"503 with garbage", authtest.Fault503, "later", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, authtest.Options{Now: func() time.Time { return server }})
			tok := e.fake.AddClient("c", "auth:sentry:*")
			// The client's clock is an hour ahead of the server's, within
			// what Hawk would refuse only because the fault answers first.
			cl := e.client(t, &hawk.Credentials{ClientID: "c", AccessToken: tok}, func(o *authclient.Options) {
				o.Retries = -1
				o.Now = func() time.Time { return server.Add(time.Hour) }
			})
			e.fake.InjectRetryAfter("sentryDSN", c.fault, c.retryAfter, 1)
			_, err := cl.SentryDSN(context.Background(), "p")
			if err == nil {
				t.Fatal("no error from an injected fault")
			}
			if got := authclient.RetryAfter(err); got != c.want {
				t.Fatalf("RetryAfter(%v) = %s, want %s", err, got, c.want)
			}
		})
	}
}
