// Package tcrules holds the Taskcluster Auth service's parameter rules,
// so the config validator rejects what the service would and the fake
// service enforces the same patterns.
package tcrules

import (
	"regexp"
	"strings"
)

var (
	clientIDRe  = regexp.MustCompile(`^[A-Za-z0-9!@/:.+|_-]+$`)
	levelRe     = regexp.MustCompile(`^(read-write|read-only)$`)
	bucketRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$`)
	accountRe   = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
	tableRe     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{2,62}$`)
	containerRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
	projectRe   = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
)

// ClientID: ^[A-Za-z0-9!@/:.+|_-]+$.
func ClientID(s string) bool { return clientIDRe.MatchString(s) }

// Level: read-write or read-only.
func Level(s string) bool { return levelRe.MatchString(s) }

// Bucket: lowercase letters, digits and dashes; no dots, deliberately.
func Bucket(s string) bool { return bucketRe.MatchString(s) }

// AzureAccount: 3 to 24 lowercase letters and digits.
func AzureAccount(s string) bool { return accountRe.MatchString(s) }

// AzureTable: a letter, then 2 to 62 letters and digits.
func AzureTable(s string) bool { return tableRe.MatchString(s) }

// AzureContainer: lowercase, digits and single dashes, 3 to 63 long.
func AzureContainer(s string) bool { return containerRe.MatchString(s) && !strings.Contains(s, "--") }

// SentryProject: 1 to 64 letters, digits, '_' and '-'.
func SentryProject(s string) bool { return projectRe.MatchString(s) }

var (
	appNameRe = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	ghNameRe  = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// GitHubApp: a GitHub app's name in Taskcluster's config, letters,
// digits, '_' and '-'.
func GitHubApp(s string) bool { return appNameRe.MatchString(s) }

// GitHubName: an owner or repository name, letters, digits, '.', '_'
// and '-'.
func GitHubName(s string) bool { return ghNameRe.MatchString(s) }

// GitHubPermissions are the repository permissions an installation token
// may ask for, and the levels each takes.
var GitHubPermissions = map[string][]string{
	"actions": {"read", "write"}, "administration": {"read", "write"}, "artifact_metadata": {"read", "write"},
	"attestations": {"read", "write"}, "checks": {"read", "write"}, "code_quality": {"read", "write"},
	"codespaces": {"read", "write"}, "contents": {"read", "write"}, "dependabot_secrets": {"read", "write"},
	"deployments": {"read", "write"}, "discussions": {"read", "write"}, "environments": {"read", "write"},
	"issues": {"read", "write"}, "merge_queues": {"read", "write"}, "metadata": {"read", "write"},
	"packages": {"read", "write"}, "pages": {"read", "write"}, "pull_requests": {"read", "write"},
	"repository_custom_properties": {"read", "write"}, "repository_hooks": {"read", "write"},
	"repository_projects": {"read", "write", "admin"}, "secret_scanning_alerts": {"read", "write"},
	"secrets": {"read", "write"}, "security_events": {"read", "write"}, "single_file": {"read", "write"},
	"statuses": {"read", "write"}, "vulnerability_alerts": {"read", "write"}, "workflows": {"write"},
}
