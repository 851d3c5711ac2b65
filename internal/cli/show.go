package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/status"
)

// statusDoc is what show reads of the ops listener's /v1/status. The
// fields a daemon may not send yet are pointers or slices, so a missing
// field reads as absent rather than as a zero value.
type statusDoc struct {
	Ready         bool              `json:"ready"`
	Version       string            `json:"version"`
	UptimeSeconds *float64          `json:"uptimeSeconds"`
	LastReload    *status.Reload    `json:"lastReload"`
	Client        *status.Client    `json:"client"`
	Sources       []refresher.State `json:"sources"`
	Sinks         []status.Sink     `json:"sinks"`
	// Receivers are, per source key, the callers that received it
	// recently, newest first.
	Receivers map[string][]status.Receiver `json:"receivers"`
}

// show prints the running daemon's sources and sinks as tables, read from
// /v1/status on its ops listener: what /v1/status says, for a person.
func (e env) show(args []string) int {
	ops, code := e.opsListen("show", args, nil)
	if ops == "" {
		return code
	}
	doc, err := fetchStatus(ops)
	if err != nil {
		fmt.Fprintln(e.stderr, "tc-credd show:", err)
		return ExitFailure
	}
	writeStatus(e.stdout, doc, time.Now())
	return ExitOK
}

// fetchStatus reads /v1/status from the ops listener at addr.
func fetchStatus(addr string) (*statusDoc, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/v1/status")
	if err != nil {
		return nil, fmt.Errorf("no answer from the ops listener %s: is tc-credd running? (tc-credd status asks the service manager): %w", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the status from %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s: %s", addr, resp.Status, strings.TrimSpace(string(body[:min(len(body), 512)])))
	}
	doc, err := parseStatus(body)
	if err != nil {
		return nil, fmt.Errorf("%s sent a status that is not tc-credd's: %w", addr, err)
	}
	return doc, nil
}

func parseStatus(body []byte) (*statusDoc, error) {
	var doc statusDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

// writeStatus prints the status as of now: a summary, then a table of
// sources and, when the daemon reports them, one of sinks.
func writeStatus(w io.Writer, doc *statusDoc, now time.Time) {
	head := []string{"tc-credd"}
	if doc.Version != "" {
		head[0] += " " + doc.Version
	}
	if doc.UptimeSeconds != nil {
		head = append(head, "up "+span(time.Duration(*doc.UptimeSeconds*float64(time.Second))))
	}
	if doc.Ready {
		head = append(head, "ready")
	} else {
		head = append(head, "not ready")
	}
	fmt.Fprintln(w, strings.Join(head, ", "))
	if r := doc.LastReload; r != nil {
		outcome := "ok"
		if !r.OK {
			outcome = "failed: " + oneLine(r.Error)
		}
		fmt.Fprintf(w, "last reload %s (%s): %s\n", ago(r.Time, now), r.Time.UTC().Format(time.RFC3339), outcome)
	}
	if c := doc.Client; c != nil && c.ClientID != "" {
		line := "client " + c.ClientID
		if !c.Expires.IsZero() {
			line += fmt.Sprintf(", temporary credentials that %s (%s)", expiry(c.Expires, now), c.Expires.UTC().Format(time.RFC3339))
		}
		fmt.Fprintln(w, line)
	}

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tSTATE\tEXPIRES IN\tNEXT RENEWAL\tLAST ERROR")
	if len(doc.Sources) == 0 {
		fmt.Fprintln(tw, "(none)\t\t\t\t")
	}
	for _, s := range doc.Sources {
		expires := "-"
		if !s.Expires.IsZero() {
			if d := s.Expires.Sub(now); d > 0 {
				expires = span(d)
			} else {
				expires = "expired " + ago(s.Expires, now)
			}
		}
		next := "-"
		if !s.NextRenewal.IsZero() {
			if d := s.NextRenewal.Sub(now); d > 0 {
				next = "in " + span(d)
			} else {
				next = "now"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Key, s.Status, expires, next, orDash(oneLine(s.LastError)))
	}
	tw.Flush()
	writeReceivers(w, doc, now)
	if len(doc.Sinks) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SINK\tSOURCE\tLAST WRITE\tLAST ERROR")
		for _, s := range doc.Sinks {
			written := "never"
			if !s.LastWrite.IsZero() {
				written = ago(s.LastWrite, now)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Path, s.Source, written, orDash(oneLine(s.LastError)))
		}
		tw.Flush()
	}
}

// writeReceivers prints who received each source recently, in the
// sources' order, when the daemon reports it.
func writeReceivers(w io.Writer, doc *statusDoc, now time.Time) {
	if len(doc.Receivers) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tRECEIVED BY\tVIA\tLAST\tTIMES")
	for _, s := range doc.Sources {
		for _, r := range doc.Receivers[s.Key] {
			who := "unknown caller"
			if r.UID >= 0 {
				who = "uid " + strconv.Itoa(r.UID)
				if r.User != "" {
					who += " (" + r.User + ")"
				}
			}
			if r.Exe != "" {
				who += " " + r.Exe
			}
			if r.PID > 0 {
				who += " [pid " + strconv.Itoa(r.PID) + "]"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", s.Key, who, r.Protocol, ago(r.Last, now), r.Count)
		}
	}
	tw.Flush()
}

// span rounds a duration to what a person reads at a glance: seconds
// under a minute, minutes under an hour, then hours and minutes, then
// days and hours.
func span(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

func ago(t, now time.Time) string {
	if d := now.Sub(t); d > 0 {
		return span(d) + " ago"
	}
	return "just now"
}

func expiry(t, now time.Time) string {
	if d := t.Sub(now); d > 0 {
		return "expire in " + span(d)
	}
	return "expired " + ago(t, now)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
