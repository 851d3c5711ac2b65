package daemon

import (
	"context"
	"fmt"
	"io"

	"github.com/taskcluster/tc-credd/internal/authclient"
	"github.com/taskcluster/tc-credd/internal/config"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/scopes"
)

// Check asks Taskcluster which scopes the configured credentials hold and
// reports, per source, whether the scope it needs is granted. It returns
// the number of problems found.
func Check(ctx context.Context, c *config.Config, out io.Writer) (int, error) {
	ac, err := NewAuthClient(c)
	if err != nil {
		return 0, err
	}
	cur, err := ac.CurrentScopes(ctx)
	if err != nil {
		hint := ""
		switch {
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
	return problems, nil
}
