package daemon

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/taskcluster/tc-credd/internal/authclient"
	"github.com/taskcluster/tc-credd/internal/config"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/scopes"
	"github.com/taskcluster/tc-credd/internal/sink"
)

// Check asks Taskcluster which scopes the configured credentials hold and
// reports, per source, whether the scope it needs is granted. It returns
// the number of problems found.
func Check(ctx context.Context, c *config.Config, out io.Writer) (int, error) {
	ac, client, err := NewAuthClient(c)
	if err != nil {
		return 0, err
	}
	// Sinks first: what they find holds even when Taskcluster is unreachable.
	sinkProblems := checkSinks(c, out)
	expired := !client.Expires.IsZero() && !time.Now().Before(client.Expires)
	cur, err := ac.CurrentScopes(ctx)
	if err != nil {
		hint := ""
		switch {
		case authclient.IsAuthenticationFailed(err) && expired:
			hint = fmt.Sprintf(" (these temporary credentials expired at %s: put new ones in the config)", client.Expires.Format(time.RFC3339))
		case authclient.IsAuthenticationFailed(err):
			hint = " (check credentials.clientId and the access token, and that this machine's clock is right)"
		case authclient.IsMissingScopes(err):
			hint = " (grant auth:current-scopes to let check list scopes)"
		case authclient.IsUnavailable(err):
			hint = " (is rootUrl right and reachable?)"
		}
		return 0, fmt.Errorf("asking Taskcluster for this client's scopes: %w%s", err, hint)
	}
	fmt.Fprintf(out, "clientId %s holds %d scopes on %s\n", c.Credentials.ClientID, len(cur.Scopes), c.RootURL)
	if !client.Expires.IsZero() {
		// Nothing renews them: say when they must be replaced.
		left := "expired; Taskcluster allows 5 minutes of clock skew"
		if d := time.Until(client.Expires); d > 0 {
			left = "in " + d.Round(time.Minute).String()
		}
		fmt.Fprintf(out, "the credentials are temporary: they expire at %s (%s)\n", client.Expires.Format(time.RFC3339), left)
	}
	problems := 0
	for _, s := range Sources(c) {
		need, alt := refresher.RequiredScope(s)
		ok := scopes.Satisfies(cur.Scopes, need) || (alt != "" && scopes.Satisfies(cur.Scopes, alt))
		mark := "ok     "
		if !ok {
			mark = "MISSING"
			problems++
		}
		fmt.Fprintf(out, "%s  %-32s %s\n", mark, s.Key(), need)
	}
	if problems > 0 {
		fmt.Fprintf(out, "%d source(s) lack a scope: grant them to %s, or remove the sources\n", problems, c.Credentials.ClientID)
	}
	return problems + sinkProblems, nil
}

// checkSinks reports each sink whose folder this user cannot write (run
// check as the daemon's user), and returns how many.
func checkSinks(c *config.Config, out io.Writer) int {
	problems := 0
	for i, s := range c.Sinks {
		if err := sink.CheckFolder(s.Path); err != nil {
			fmt.Fprintf(out, "PROBLEM  sinks[%d] %s: %v\n", i, s.Path, err)
			problems++
		}
	}
	return problems
}
