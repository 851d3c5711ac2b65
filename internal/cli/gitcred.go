package cli

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/taskcluster/tc-credd/internal/config"
)

// gitCredential is a git credential helper: for https://github.com/OWNER/REPO
// it answers "get" with the current token of the github source covering
// that repository, read from the running daemon. Configure it with
//
//	git config --global credential.https://github.com.helper "/usr/bin/tc-credd git-credential --config /etc/tc-credd/config.yml"
//	git config --global credential.https://github.com.useHttpPath true
//
// "store" and "erase" have nothing to do: the daemon renews the token.
// A request it cannot answer gets no answer, so git asks the next helper.
func (e env) gitCredential(args []string) int {
	var path string
	fs, ok := e.flags("git-credential", args, func(fs *flag.FlagSet) {
		fs.StringVar(&path, "config", "", "config file of the running daemon (or TC_CREDD_CONFIG)")
	})
	if !ok {
		return ExitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(e.stderr, "usage: tc-credd git-credential --config FILE get|store|erase")
		return ExitUsage
	}
	if fs.Arg(0) != "get" {
		_, _ = io.Copy(io.Discard, e.stdin)
		return ExitOK
	}
	attrs := readCredentialRequest(e.stdin)
	if attrs["protocol"] != "https" || !strings.EqualFold(attrs["host"], "github.com") {
		return ExitOK
	}
	cfg, code := e.loadConfig(path, nil)
	if cfg == nil {
		return code
	}
	name, why := githubSourceFor(cfg, attrs["path"])
	if name == "" {
		fmt.Fprintln(e.stderr, "tc-credd git-credential:", why)
		return ExitOK
	}
	var doc struct {
		Token   string    `json:"token"`
		Expires time.Time `json:"expires"`
	}
	if err := e.apiGet("git-credential", cfg, cfg.Listen, "github/"+name, &doc); err != nil {
		fmt.Fprintln(e.stderr, err)
		return ExitFailure
	}
	// GitHub takes an installation token as the password of any user;
	// x-access-token is the name its documentation uses. Git 2.41 and
	// later forget the token at its expiry.
	fmt.Fprintf(e.stdout, "username=x-access-token\npassword=%s\npassword_expiry_utc=%d\n", doc.Token, doc.Expires.Unix())
	return ExitOK
}

// readCredentialRequest reads git's key=value lines up to a blank line.
func readCredentialRequest(r io.Reader) map[string]string {
	attrs := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			attrs[k] = v
		}
	}
	return attrs
}

// githubSourceFor picks the github source whose owner and repositories
// cover a request's path ("owner/repo" or "owner/repo.git"); without a
// path, the only github source. "" comes with the reason.
func githubSourceFor(cfg *config.Config, path string) (string, string) {
	if path == "" {
		if len(cfg.GitHub) == 1 {
			return cfg.GitHub[0].Name, ""
		}
		return "", "git sent no repository path: set credential.https://github.com.useHttpPath true so tc-credd can pick among its github sources"
	}
	owner, repo, _ := strings.Cut(strings.Trim(path, "/"), "/")
	repo = strings.TrimSuffix(repo, ".git")
	for _, s := range cfg.GitHub {
		if !strings.EqualFold(s.Owner, owner) {
			continue
		}
		for _, r := range s.Repositories {
			if strings.EqualFold(r, repo) {
				return s.Name, ""
			}
		}
	}
	return "", "no github source covers " + owner + "/" + repo
}
