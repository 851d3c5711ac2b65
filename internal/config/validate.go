package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/taskcluster/tc-credd/internal/loopback"
	"github.com/taskcluster/tc-credd/internal/secret"
	"github.com/taskcluster/tc-credd/internal/tcrules"
)

// Sentinel errors, so callers and tests can use errors.Is.
var (
	ErrRequired  = errors.New("is required")
	ErrInvalid   = errors.New("is invalid")
	ErrDuplicate = errors.New("is used twice")
	ErrConflict  = errors.New("conflicts with another field")
)

// FieldError is one problem with one field.
type FieldError struct {
	Field  string // "aws[0].bucket"
	Line   int    // 0 when unknown
	Err    error  // a sentinel above
	Detail string
}

func (e *FieldError) Error() string {
	where := e.Field
	if e.Line > 0 {
		where = fmt.Sprintf("%s (line %d)", e.Field, e.Line)
	}
	if e.Err == ErrType {
		// The detail says it all: the form needed and the kind found.
		return fmt.Sprintf("%s: %s", where, e.Detail)
	}
	if e.Detail != "" {
		return fmt.Sprintf("%s: %v: %s", where, e.Err, e.Detail)
	}
	return fmt.Sprintf("%s: %v", where, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// Errors is every problem Validate found.
type Errors []*FieldError

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.Is and errors.As see each FieldError.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// ApplyEnv fills what the file leaves out from the standard Taskcluster
// variables. It reads only through getenv.
func (c *Config) ApplyEnv(getenv func(string) string) {
	if c.RootURL == "" {
		c.RootURL = getenv("TASKCLUSTER_ROOT_URL")
	}
	cr := &c.Credentials
	if cr.ClientID == "" {
		cr.ClientID = getenv("TASKCLUSTER_CLIENT_ID")
		if cr.AccessToken.IsZero() && cr.AccessTokenFile == "" {
			cr.AccessToken = secret.New(getenv("TASKCLUSTER_ACCESS_TOKEN"))
		}
		if cr.Certificate == "" && cr.CertificateFile == "" {
			cr.Certificate = getenv("TASKCLUSTER_CERTIFICATE")
		}
	}
}

// ApplyDefaults fills defaults that do not depend on other fields' errors.
func (c *Config) ApplyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.LocalTokenFile == "" {
		c.LocalTokenFile = DefaultLocalTokenFile
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	if c.LocalTokenMode == "" {
		c.LocalTokenMode = "0600"
	}
	for i := range c.GCP {
		if c.GCP[i].Name == "" {
			c.GCP[i].Name = c.GCP[i].ServiceAccount
		}
	}
	for i := range c.Sinks {
		if c.Sinks[i].Mode == "" {
			c.Sinks[i].Mode = "0600"
		}
	}
}

var (
	nameRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$`)
	saEmailRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}@[a-z0-9.-]+\.[a-z]+$`)
	gcpProjRe = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	numericRe = regexp.MustCompile(`^[0-9]{1,20}$`)
	regionRe  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

type validator struct {
	c    *Config
	errs Errors
	warn []string
}

func (v *validator) fail(field string, err error, detail string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Line: v.c.Line(field), Err: err, Detail: fmt.Sprintf(detail, args...)})
}

// The packaged unit's TimeoutStopSec, and the longest shutdownGrace that
// leaves a stop the 5 s it needs after the requests in flight.
const (
	unitStopTimeout = 20 * time.Second
	maxUnitGrace    = unitStopTimeout - 5*time.Second
)

func (v *validator) warnf(field, format string, args ...any) {
	where := field
	if l := v.c.Line(field); l > 0 {
		where = fmt.Sprintf("%s (line %d)", field, l)
	}
	v.warn = append(v.warn, where+": "+fmt.Sprintf(format, args...))
}

func (v *validator) required(field, value string) bool {
	if value == "" {
		v.fail(field, ErrRequired, "")
		return false
	}
	return true
}

func (v *validator) match(field, value string, ok func(string) bool, rule string) {
	if v.required(field, value) && !ok(value) {
		v.fail(field, ErrInvalid, "%s (got %q)", rule, value)
	}
}

func (v *validator) listen(field, addr string) {
	if addr == "" {
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.fail(field, ErrInvalid, "must be host:port (got %q)", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.fail(field, ErrInvalid, "port must be 0..65535 (got %q)", port)
	}
	if !v.c.AllowNonLoopback && !loopback.Host(host) {
		v.fail(field, ErrInvalid, "%q is not a loopback address; set allowNonLoopback: true to bind it anyway", addr)
	}
}

// name checks a source name and its uniqueness within its kind.
func (v *validator) name(field, kind, name string, seen map[string]bool) {
	if !v.required(field, name) {
		return
	}
	if !nameRe.MatchString(name) {
		v.fail(field, ErrInvalid, "letters, digits, '.', '_', '@' and '-', up to 128 (got %q)", name)
	}
	if seen[kind+"/"+name] {
		v.fail(field, ErrDuplicate, "another %s source is named %q", kind, name)
	}
	seen[kind+"/"+name] = true
}

func (v *validator) margin(field string, d interface{ Seconds() float64 }) {
	if d.Seconds() < 0 {
		v.fail(field, ErrInvalid, "must not be negative")
	}
}

// Validate checks every field and returns warnings (worth a log line, not
// a refusal) and an Errors value naming each problem.
func (c *Config) Validate() (warnings []string, err error) {
	v := &validator{c: c}
	if v.required("rootUrl", c.RootURL) {
		u, err := url.Parse(c.RootURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			v.fail("rootUrl", ErrInvalid, "must be http(s)://host[:port] with no path (got %q)", c.RootURL)
		}
	}
	cr := c.Credentials
	if v.required("credentials.clientId", cr.ClientID) && !tcrules.ClientID(cr.ClientID) {
		v.fail("credentials.clientId", ErrInvalid, "must match ^[A-Za-z0-9!@/:.+|_-]+$ (got %q)", cr.ClientID)
	}
	switch {
	case !cr.AccessToken.IsZero() && cr.AccessTokenFile != "":
		v.fail("credentials.accessTokenFile", ErrConflict, "set accessToken or accessTokenFile, not both")
	case cr.AccessToken.IsZero() && cr.AccessTokenFile == "":
		v.fail("credentials.accessToken", ErrRequired, "set accessToken, accessTokenFile or TASKCLUSTER_ACCESS_TOKEN")
	case cr.AccessTokenFile != "":
		v.checkPrivate("credentials.accessTokenFile", cr.AccessTokenFile)
	}
	switch {
	case cr.Certificate != "" && cr.CertificateFile != "":
		v.fail("credentials.certificateFile", ErrConflict, "set certificate or certificateFile, not both")
	case cr.CertificateFile != "":
		if text, err := c.CertificateText(); err != nil {
			v.fail("credentials.certificateFile", ErrInvalid, "%v", err)
		} else if !strings.HasPrefix(strings.TrimSpace(text), "{") {
			v.fail("credentials.certificateFile", ErrInvalid, "must hold the JSON text of a certificate object")
		}
	case cr.Certificate != "" && !strings.HasPrefix(strings.TrimSpace(cr.Certificate), "{"):
		v.fail("credentials.certificate", ErrInvalid, "must be the JSON text of a certificate object")
	}
	if cr.AuthorizedScopes != nil {
		for i, s := range *cr.AuthorizedScopes {
			for _, r := range s {
				if r < 0x20 || r > 0x7e {
					v.fail(fmt.Sprintf("credentials.authorizedScopes[%d]", i), ErrInvalid, "scopes are printable ASCII")
					break
				}
			}
		}
	}
	v.listen("listen", c.Listen)
	v.listen("opsListen", c.OpsListen)
	if c.OpsListen != "" && c.OpsListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
		v.fail("opsListen", ErrConflict, "must differ from listen")
	}
	v.required("localTokenFile", c.LocalTokenFile)
	if m, err := strconv.ParseUint(c.LocalTokenMode, 8, 32); err != nil || m > 0o777 || m&0o600 != 0o600 {
		v.fail("localTokenMode", ErrInvalid, "an octal mode the owner can read and write, such as \"0600\" or \"0640\" (got %q)", c.LocalTokenMode)
	} else if m&0o007 != 0 {
		v.warnf("localTokenMode", "%s lets every user on the machine read the local token", c.LocalTokenMode)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		v.fail("logLevel", ErrInvalid, "debug, info, warn or error (got %q)", c.LogLevel)
	}
	if c.IMDS.Region != "" && !regionRe.MatchString(c.IMDS.Region) {
		v.fail("imds.region", ErrInvalid, "an AWS region such as us-east-1 (got %q)", c.IMDS.Region)
	}
	for _, m := range []struct {
		f string
		d interface{ Seconds() float64 }
	}{{"margins.aws", c.Margins.AWS}, {"margins.gcp", c.Margins.GCP}, {"margins.azure", c.Margins.Azure}, {"margins.sentry", c.Margins.Sentry}, {"margins.websocktunnel", c.Margins.Websocktunnel}, {"margins.github", c.Margins.GitHub}} {
		v.margin(m.f, m.d)
	}
	switch {
	case c.ShutdownGrace < 0:
		v.fail("shutdownGrace", ErrInvalid, "must not be negative (got %s)", c.ShutdownGrace)
	case c.ShutdownGrace > maxUnitGrace:
		v.warnf("shutdownGrace", "%s is more than the packaged systemd unit allows: it kills tc-credd %s after SIGTERM and the rest of a stop takes up to 5 s; raise TimeoutStopSec in a drop-in (systemctl edit tc-credd) to at least shutdownGrace + 5 s", c.ShutdownGrace, unitStopTimeout)
	}
	seen := map[string]bool{}
	v.sources(seen)
	v.sinks(seen)
	v.callers()
	v.proxy()
	if c.path != "" {
		v.checkPrivate("config file", c.path)
	}
	if len(v.errs) > 0 {
		return v.warn, v.errs
	}
	return v.warn, nil
}

func (v *validator) sources(seen map[string]bool) {
	c := v.c
	listens := map[string]string{c.Listen: "listen", c.OpsListen: "opsListen"}
	for i, s := range c.AWS {
		f := fmt.Sprintf("aws[%d]", i)
		v.name(f+".name", "aws", s.Name, seen)
		v.match(f+".bucket", s.Bucket, tcrules.Bucket, "lowercase letters, digits and dashes, 3 to 64, no dots")
		v.match(f+".level", s.Level, tcrules.Level, "read-write or read-only")
		if strings.HasPrefix(s.Prefix, "/") {
			v.fail(f+".prefix", ErrInvalid, "must not start with / (got %q)", s.Prefix)
		} else if s.Prefix != "" && !strings.HasSuffix(s.Prefix, "/") {
			v.warnf(f+".prefix", "%q has no trailing /, so it also grants %s* (e.g. %s-other/)", s.Prefix, s.Prefix, s.Prefix)
		}
		v.listen(f+".listen", s.Listen)
		if s.Listen != "" && !strings.HasSuffix(s.Listen, ":0") {
			if other, dup := listens[s.Listen]; dup {
				v.fail(f+".listen", ErrDuplicate, "%s already listens on %s", other, s.Listen)
			}
			listens[s.Listen] = f + ".listen"
		}
		v.margin(f+".margin", s.Margin)
	}
	for i, s := range c.GCP {
		f := fmt.Sprintf("gcp[%d]", i)
		v.match(f+".projectId", s.ProjectID, gcpProjRe.MatchString, "a GCP project id: 6 to 30 lowercase letters, digits and dashes")
		v.match(f+".serviceAccount", s.ServiceAccount, saEmailRe.MatchString, "a service account email")
		v.name(f+".name", "gcp", s.Name, seen)
		if s.NumericProjectID != "" && !numericRe.MatchString(s.NumericProjectID) {
			v.fail(f+".numericProjectId", ErrInvalid, "digits only (got %q)", s.NumericProjectID)
		}
		v.margin(f+".margin", s.Margin)
	}
	for i, s := range c.Azure {
		f := fmt.Sprintf("azure[%d]", i)
		v.name(f+".name", "azure", s.Name, seen)
		v.match(f+".account", s.Account, tcrules.AzureAccount, "3 to 24 lowercase letters and digits")
		v.match(f+".level", s.Level, tcrules.Level, "read-write or read-only")
		switch {
		case s.Table != "" && s.Container != "":
			v.fail(f+".container", ErrConflict, "set table or container, not both")
		case s.Table != "":
			v.match(f+".table", s.Table, tcrules.AzureTable, "a letter, then 2 to 62 letters and digits")
		case s.Container != "":
			v.match(f+".container", s.Container, tcrules.AzureContainer, "3 to 63 lowercase letters, digits and single dashes")
		default:
			v.fail(f+".table", ErrRequired, "set table or container")
		}
		v.margin(f+".margin", s.Margin)
	}
	for i, s := range c.Sentry {
		f := fmt.Sprintf("sentry[%d]", i)
		v.name(f+".name", "sentry", s.Name, seen)
		v.match(f+".project", s.Project, tcrules.SentryProject, "1 to 64 letters, digits, _ and -")
		v.margin(f+".margin", s.Margin)
	}
	for i, s := range c.Websocktunnel {
		f := fmt.Sprintf("websocktunnel[%d]", i)
		v.name(f+".name", "websocktunnel", s.Name, seen)
		v.required(f+".audience", s.Audience)
		v.required(f+".client", s.Client)
		v.margin(f+".margin", s.Margin)
	}
	for i, s := range c.GitHub {
		f := fmt.Sprintf("github[%d]", i)
		v.name(f+".name", "github", s.Name, seen)
		v.match(f+".app", s.App, tcrules.GitHubApp, "the app's name in Taskcluster: letters, digits, _ and -")
		v.match(f+".owner", s.Owner, tcrules.GitHubName, "a GitHub user or organisation")
		if len(s.Repositories) == 0 || len(s.Repositories) > 500 {
			v.fail(f+".repositories", ErrRequired, "1 to 500 repositories of the owner")
		}
		for j, r := range s.Repositories {
			v.match(fmt.Sprintf("%s.repositories[%d]", f, j), r, tcrules.GitHubName, "a repository name (without the owner)")
		}
		if len(s.Permissions) == 0 {
			v.fail(f+".permissions", ErrRequired, "name the permissions the token needs, e.g. contents: read")
		}
		for _, name := range slices.Sorted(maps.Keys(s.Permissions)) {
			levels, known := tcrules.GitHubPermissions[name]
			switch {
			case !known:
				v.fail(f+".permissions."+name, ErrInvalid, "not a GitHub repository permission")
			case !slices.Contains(levels, s.Permissions[name]):
				v.fail(f+".permissions."+name, ErrInvalid, "must be one of %s (got %q)", strings.Join(levels, ", "), s.Permissions[name])
			}
		}
		v.margin(f+".margin", s.Margin)
	}
}

var formats = map[string]bool{"json": true, "env": true, "aws-credentials": true, "template": true}

func (v *validator) sinks(sources map[string]bool) {
	paths := map[string]string{}
	for i, s := range v.c.Sinks {
		f := fmt.Sprintf("sinks[%d]", i)
		if v.required(f+".source", s.Source) && !sources[s.Source] {
			v.fail(f+".source", ErrInvalid, "%q names no configured source (use kind/name, e.g. sentry/app)", s.Source)
		}
		if v.required(f+".path", s.Path) {
			if !strings.HasPrefix(s.Path, "/") {
				v.fail(f+".path", ErrInvalid, "must be an absolute path (got %q)", s.Path)
			}
			if other, dup := paths[s.Path]; dup {
				v.fail(f+".path", ErrDuplicate, "%s writes %s too", other, s.Path)
			}
			paths[s.Path] = f
		}
		if v.required(f+".format", s.Format) && !formats[s.Format] {
			v.fail(f+".format", ErrInvalid, "json, env, aws-credentials or template (got %q)", s.Format)
		}
		if s.Format == "aws-credentials" && !strings.HasPrefix(s.Source, "aws/") {
			v.fail(f+".format", ErrInvalid, "aws-credentials needs an aws source (got %q)", s.Source)
		}
		if s.Format == "template" {
			if v.required(f+".template", s.Template) {
				if _, err := template.New(f).Option("missingkey=error").Parse(s.Template); err != nil {
					v.fail(f+".template", ErrInvalid, "%v", err)
				}
			}
		} else if s.Template != "" {
			v.fail(f+".template", ErrConflict, "only for format: template")
		}
		mode, err := strconv.ParseUint(s.Mode, 8, 32)
		switch {
		case err != nil || mode > 0o777:
			v.fail(f+".mode", ErrInvalid, "an octal file mode such as \"0600\" (got %q)", s.Mode)
		case mode&0o007 != 0:
			v.warnf(f+".mode", "%s lets every user on the machine read the credential", s.Mode)
		}
		if s.Command != nil && (len(s.Command) == 0 || s.Command[0] == "") {
			v.fail(f+".command", ErrInvalid, "must name a program, e.g. [systemctl, reload, my-app]")
		}
	}
}

// checkPrivate warns when a file holding secrets is readable by others.
func (v *validator) checkPrivate(field, path string) {
	st, err := os.Stat(path)
	if err != nil {
		if field != "config file" {
			v.fail(field, ErrInvalid, "%v", err)
		}
		return
	}
	if st.Mode().Perm()&0o004 != 0 {
		v.warnf(field, "%s is readable by every user (mode %04o); chmod o-r it", path, st.Mode().Perm())
	}
}

// TokenFileMode returns the validated local token file mode.
func (c *Config) TokenFileMode() os.FileMode {
	m, err := strconv.ParseUint(c.LocalTokenMode, 8, 32)
	if err != nil {
		return 0o600
	}
	return os.FileMode(m)
}

// FileMode returns a validated sink's file mode.
func (s Sink) FileMode() os.FileMode {
	m, err := strconv.ParseUint(s.Mode, 8, 32)
	if err != nil {
		return DefaultSinkMode
	}
	return os.FileMode(m)
}

// AccessToken returns the access token, reading accessTokenFile if set.
func (c *Config) AccessToken() (secret.String, error) {
	if c.Credentials.AccessTokenFile == "" {
		return c.Credentials.AccessToken, nil
	}
	b, err := os.ReadFile(c.Credentials.AccessTokenFile)
	if err != nil {
		return secret.String{}, fmt.Errorf("credentials.accessTokenFile: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return secret.String{}, fmt.Errorf("credentials.accessTokenFile: %s is empty", c.Credentials.AccessTokenFile)
	}
	return secret.New(tok), nil
}

// Line is the line of a field, for callers that report their own errors.
// A field the file leaves out has the line of the nearest enclosing item
// or mapping that it has ("aws[0].bucket" that of "aws[0]", a missing
// top-level key that of the top level), so every message points into the
// file; 0 only when the file has none of them.
func (c *Config) Line(field string) int {
	for {
		if l, ok := c.lines[field]; ok {
			return l
		}
		if field == "" {
			return 0
		}
		cut := strings.LastIndexAny(field, ".[")
		if cut < 0 {
			cut = 0
		}
		field = field[:cut]
	}
}

// CertificateText returns the certificate's JSON text, reading
// certificateFile if set; "" means permanent credentials.
func (c *Config) CertificateText() (string, error) {
	if c.Credentials.CertificateFile == "" {
		return c.Credentials.Certificate, nil
	}
	b, err := os.ReadFile(c.Credentials.CertificateFile)
	if err != nil {
		return "", fmt.Errorf("credentials.certificateFile: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
