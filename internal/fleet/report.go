package fleet

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Print writes the run's summary, its row of the fleet table and the request
// rate over time, one row per every (and per 10 s for the first two
// minutes after the outage, where the wave comes).
func (r *Result) Print(w io.Writer, every time.Duration) {
	c := r.Config
	lifes := make([]string, len(c.Lifetimes))
	for i, l := range c.Lifetimes {
		lifes[i] = l.String()
	}
	fmt.Fprintf(w, "fleet: %s hosts × %d sources = %s sources, lifetimes %s; outage %s\n",
		thousands(int64(c.Hosts)), c.SourcesPerHost, thousands(int64(r.Sources)), strings.Join(lifes, ","), c.Outage)
	switch {
	case c.Capacity == 0:
		fmt.Fprintln(w, "service: no capacity limit")
	default:
		where := "a limiter in front of the service: it also answers during the outage"
		if !c.LimitDuringOutage {
			where = "the limiter fails with the service: every request during the outage gets a 500"
		}
		fmt.Fprintf(w, "service: %d requests/s, beyond that 503 with Retry-After: %d (%s)\n",
			c.Capacity, int(c.RetryAfter/time.Second), where)
	}
	if c.OutageRetryAfter > 0 {
		fmt.Fprintf(w, "during the outage the front answers 503 with Retry-After: %d\n", int(c.OutageRetryAfter/time.Second))
	}
	fmt.Fprintf(w, "requests: %s made by the sources, %s received by the service\n", thousands(r.Attempts), thousands(r.Requests))
	fmt.Fprintf(w, "during the outage: %s requests, at most %d in one second\n", thousands(r.DuringOutage), r.PeakDuringOutage)
	fmt.Fprintf(w, "after the outage: at most %d requests in one second (%s after it ended)", r.PeakAfter, r.PeakAfterAt)
	if c.Capacity > 0 {
		fmt.Fprintf(w, ", %.2f × capacity", float64(r.PeakAfter)/float64(c.Capacity))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "sources with nothing to serve when the outage ended: %s; served again after p50 %s, p90 %s, p99 %s, max %s; never: %d\n",
		thousands(int64(r.Lapsed)), sec(r.Percentile(50)), sec(r.Percentile(90)), sec(r.Percentile(99)), sec(r.Percentile(100)), r.Unrecovered)
	if r.MaxRetryAfterAsked > 0 {
		fmt.Fprintf(w, "longest Retry-After honoured: %s\n", r.MaxRetryAfterAsked)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| requests during the outage | peak requests/s right after it | p99 seconds until a source serves again |")
	fmt.Fprintln(w, "|---:|---:|---:|")
	fmt.Fprintf(w, "| %s | %d | %s |\n", millions(r.DuringOutage), r.PeakAfter, strings.TrimSuffix(sec(r.Percentile(99)), " s"))
	fmt.Fprintln(w)

	fmt.Fprintln(w, "time from the outage's start; requests/s mean and peak; answers 200 / 503 / 500; sources serving")
	fmt.Fprintf(w, "%9s %8s %6s %8s %8s %8s %8s\n", "time", "mean/s", "peak", "200", "503", "500", "serving")
	outage := int(c.Outage / time.Second)
	row := func(from, to int) {
		var t Second
		peak, serving := 0, -1
		for i := from; i < to && i < len(r.Seconds); i++ {
			s := r.Seconds[i]
			t.Received += s.Received
			t.OK += s.OK
			t.Rejected += s.Rejected
			t.Failed += s.Failed
			peak = max(peak, s.Received)
			if serving < 0 {
				serving = s.Serving
			}
		}
		n := max(min(to, len(r.Seconds))-from, 1)
		sv := ""
		if serving >= 0 {
			sv = thousands(int64(serving))
		}
		fmt.Fprintf(w, "%9s %8.1f %6d %8d %8d %8d %8s\n", clock(from), float64(t.Received)/float64(n), peak, t.OK, t.Rejected, t.Failed, sv)
	}
	step := max(int(every/time.Second), 1)
	for from := 0; from < len(r.Seconds); {
		if from >= outage && from < outage+120 {
			row(from, from+10)
			from += 10
			continue
		}
		to := from + step
		if from < outage && to > outage {
			to = outage
		}
		row(from, to)
		from = to
	}
}

func sec(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func clock(s int) string { return fmt.Sprintf("+%d:%02d:%02d", s/3600, s/60%60, s%60) }

func millions(n int64) string {
	if n >= 100_000 {
		return fmt.Sprintf("%.2f M", float64(n)/1e6)
	}
	return thousands(n)
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
