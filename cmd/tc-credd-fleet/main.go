// Command tc-credd-fleet simulates a fleet of tc-credd hosts through an
// Auth service outage, on a simulated clock, with the daemon's own
// scheduling code. See docs/fleet.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/taskcluster/tc-credd/internal/fleet"
)

func main() {
	var c fleet.Config
	lifetimes := flag.String("lifetimes", "1h", "credential lifetimes by source slot on a host, comma-separated and cycled")
	flag.IntVar(&c.Hosts, "hosts", 10_000, "hosts in the fleet")
	flag.IntVar(&c.SourcesPerHost, "sources", 2, "sources per host")
	flag.DurationVar(&c.Outage, "outage", time.Hour, "how long the service fails")
	flag.IntVar(&c.Capacity, "capacity", 0, "requests/s the service admits; beyond that 503 with Retry-After (0: unlimited)")
	flag.DurationVar(&c.RetryAfter, "retry-after", 0, "the Retry-After the service sends beyond capacity (0: sources ÷ capacity, from 30s to 15m)")
	flag.BoolVar(&c.LimitDuringOutage, "limit-during-outage", true, "the limiter sits in front of what fails and keeps answering 503 with Retry-After during the outage")
	flag.DurationVar(&c.OutageRetryAfter, "outage-retry-after", 0, "answer the outage with 503 and this Retry-After instead of 500 (0: 500)")
	flag.DurationVar(&c.After, "after", time.Hour, "how long to simulate after the outage")
	flag.Uint64Var(&c.Seed, "seed", 1, "random seed")
	every := flag.Duration("every", 5*time.Minute, "rows of the time line")
	flag.Parse()
	for _, f := range strings.Split(*lifetimes, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil {
			fmt.Fprintf(os.Stderr, "tc-credd-fleet: -lifetimes: %v\n", err)
			os.Exit(2)
		}
		c.Lifetimes = append(c.Lifetimes, d)
	}
	start := time.Now()
	res, err := fleet.Run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tc-credd-fleet:", err)
		os.Exit(2)
	}
	res.Print(os.Stdout, *every)
	fmt.Printf("\nsimulated in %s\n", time.Since(start).Round(time.Millisecond))
}
