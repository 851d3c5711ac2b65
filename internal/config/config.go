// Package config reads tc-credd's YAML config: strict (an unknown key is
// an error naming the key and its line), defaults first, then the file,
// then the standard Taskcluster environment for what the file leaves out.
// Parse has no side effects; Validate names the field at fault in every
// message.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/taskcluster/tc-credd/internal/secret"
)

// Defaults. The credential port is documented in the README.
const (
	DefaultListen         = "127.0.0.1:8765"
	DefaultLocalTokenFile = "/run/tc-credd/token"
	DefaultSinkMode       = 0o600
	// DefaultShutdownGrace is how long requests in flight may finish at a
	// stop before their connections are closed.
	DefaultShutdownGrace = 5 * time.Second
)

// Config is the whole file.
type Config struct {
	RootURL          string      `yaml:"rootUrl"`
	Credentials      Credentials `yaml:"credentials"`
	Listen           string      `yaml:"listen"`
	OpsListen        string      `yaml:"opsListen"`
	LocalTokenFile   string      `yaml:"localTokenFile"`
	LocalTokenMode   string      `yaml:"localTokenMode"` // octal, default "0600"
	LogLevel         string      `yaml:"logLevel"`
	AllowedHosts     []string    `yaml:"allowedHosts"`
	AllowNonLoopback bool        `yaml:"allowNonLoopback"`
	IMDS             IMDS        `yaml:"imds"`
	Margins          Margins     `yaml:"margins"`
	AWS              []AWS       `yaml:"aws"`
	GCP              []GCP       `yaml:"gcp"`
	Azure            []Azure     `yaml:"azure"`
	Sentry           []Sentry    `yaml:"sentry"`
	Websocktunnel    []WST       `yaml:"websocktunnel"`
	GitHub           []GitHub    `yaml:"github"`
	Sinks            []Sink      `yaml:"sinks"`
	Proxy            *Proxy      `yaml:"proxy"`
	UnixSocket       string      `yaml:"unixSocket"`
	// ShutdownGrace is how long requests in flight may finish at a stop
	// (a proxied upload may need more than the default 5 s).
	ShutdownGrace time.Duration `yaml:"shutdownGrace"`
	Audit         Audit         `yaml:"audit"`
	lines         map[string]int
	path          string
}

// Credentials are tc-credd's own Taskcluster credentials.
type Credentials struct {
	ClientID        string        `yaml:"clientId"`
	AccessToken     secret.String `yaml:"accessToken"`
	AccessTokenFile string        `yaml:"accessTokenFile"`
	Certificate     string        `yaml:"certificate"`
	// CertificateFile holds the certificate's JSON text instead, for an
	// external renewer to replace together with accessTokenFile.
	CertificateFile string `yaml:"certificateFile"`
	// AuthorizedScopes nil means no restriction; [] means no scopes.
	AuthorizedScopes *[]string `yaml:"authorizedScopes"`
}

// GoString keeps %#v from reaching the token (secret.String already
// redacts; this also hides whether a file is used).
func (c Credentials) GoString() string {
	return fmt.Sprintf("config.Credentials{ClientID:%q, AccessToken:%v}", c.ClientID, c.AccessToken)
}

// IMDS configures the EC2 metadata endpoints.
type IMDS struct {
	AllowV1 bool   `yaml:"allowV1"`
	Region  string `yaml:"region"`
}

// Margins override the least remaining validity per kind.
type Margins struct {
	AWS           time.Duration `yaml:"aws"`
	GCP           time.Duration `yaml:"gcp"`
	Azure         time.Duration `yaml:"azure"`
	Sentry        time.Duration `yaml:"sentry"`
	Websocktunnel time.Duration `yaml:"websocktunnel"`
	GitHub        time.Duration `yaml:"github"`
}

// AWS is an awsS3Credentials source.
type AWS struct {
	Name   string        `yaml:"name"`
	Bucket string        `yaml:"bucket"`
	Prefix string        `yaml:"prefix"`
	Level  string        `yaml:"level"`
	Listen string        `yaml:"listen"`
	Margin time.Duration `yaml:"margin"`
	Allow  *Allow        `yaml:"allow"`
}

// GCP is a gcpCredentials source. Name defaults to the service account.
type GCP struct {
	Name             string        `yaml:"name"`
	ProjectID        string        `yaml:"projectId"`
	ServiceAccount   string        `yaml:"serviceAccount"`
	NumericProjectID string        `yaml:"numericProjectId"`
	Margin           time.Duration `yaml:"margin"`
	Allow            *Allow        `yaml:"allow"`
}

// Azure is an azureTableSAS or azureContainerSAS source.
type Azure struct {
	Name      string        `yaml:"name"`
	Account   string        `yaml:"account"`
	Table     string        `yaml:"table"`
	Container string        `yaml:"container"`
	Level     string        `yaml:"level"`
	Margin    time.Duration `yaml:"margin"`
	Allow     *Allow        `yaml:"allow"`
}

// Sentry is a sentryDSN source.
type Sentry struct {
	Name    string        `yaml:"name"`
	Project string        `yaml:"project"`
	Margin  time.Duration `yaml:"margin"`
	Allow   *Allow        `yaml:"allow"`
}

// WST is a websocktunnelToken source.
type WST struct {
	Name     string        `yaml:"name"`
	Audience string        `yaml:"audience"`
	Client   string        `yaml:"client"`
	Margin   time.Duration `yaml:"margin"`
	Allow    *Allow        `yaml:"allow"`
}

// GitHub is a githubRepoToken source: an installation token of a GitHub
// app configured in Taskcluster, for repositories of one owner.
type GitHub struct {
	Name         string            `yaml:"name"`
	App          string            `yaml:"app"`
	Owner        string            `yaml:"owner"`
	Repositories []string          `yaml:"repositories"`
	Permissions  map[string]string `yaml:"permissions"` // e.g. contents: read
	Margin       time.Duration     `yaml:"margin"`
	Allow        *Allow            `yaml:"allow"`
}

// Proxy is the optional taskcluster-proxy-compatible listener: local
// processes call Taskcluster through it, signed with tc-credd's
// credentials narrowed to what their policy grants.
type Proxy struct {
	Listen   string        `yaml:"listen"`
	Policies []ProxyPolicy `yaml:"policies"`
}

// ProxyPolicy grants the callers its allow rule admits the scopes listed;
// a caller gets the union of every policy that admits it.
type ProxyPolicy struct {
	Allow  Allow    `yaml:"allow"`
	Scopes []string `yaml:"scopes"`
}

// Allow restricts a source to the callers it names; any one match admits.
// Absent, every caller on the machine may have the source.
type Allow struct {
	Users   []string `yaml:"users"`
	Groups  []string `yaml:"groups"`
	UIDs    []int    `yaml:"uids"`
	Cgroups []string `yaml:"cgroups"` // cgroup path prefixes
}

// Audit configures the audit trail's file; events always go to the log.
type Audit struct {
	File      string `yaml:"file"`
	MaxSizeMB int    `yaml:"maxSizeMB"` // rotate past this size; default 10
	Keep      int    `yaml:"keep"`      // rotated files kept; default 5
	// UIDLabels adds a uid label to the hand-out metrics; off by default,
	// since every uid becomes a time series.
	UIDLabels bool `yaml:"uidLabels"`
}

// Sink writes a source's credential to a file on every change.
type Sink struct {
	Source   string   `yaml:"source"` // kind/name
	Path     string   `yaml:"path"`
	Format   string   `yaml:"format"` // json | env | aws-credentials | template
	Template string   `yaml:"template"`
	Profile  string   `yaml:"profile"` // aws-credentials profile name
	Mode     string   `yaml:"mode"`    // octal, default "0600"
	Command  []string `yaml:"command"`
}

// Load reads and parses a config file. It does not validate.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	c, err := Parse(f)
	var fieldErrs Errors
	if errors.As(err, &fieldErrs) {
		// Each names its field and line, as Validate's do; the caller
		// names the file.
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.path = path
	return c, nil
}

var (
	unknownFieldRe = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)
	quotedValueRe  = regexp.MustCompile("`[^`]*`")
)

// Parse decodes YAML strictly: an unknown key, or a value of the wrong
// form, is an error naming the field path and its line. It reads the
// environment for nothing and writes nothing.
func Parse(r io.Reader) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	s := &shape{}
	s.walk(&root, reflect.TypeOf(Config{}), "", 1)
	if len(s.errs) > 0 {
		return nil, s.errs
	}
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		// The shape check above finds what a type error would report; this
		// is a safety net that keeps values out of the message all the same.
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, 0, len(te.Errors))
			for _, m := range te.Errors {
				if sm := unknownFieldRe.FindStringSubmatch(m); sm != nil {
					m = fmt.Sprintf("line %s: unknown key %q", sm[1], sm[2])
				}
				// yaml quotes the offending value; a token pasted under the
				// wrong key must not reach a log.
				msgs = append(msgs, quotedValueRe.ReplaceAllString(m, "(value hidden)"))
			}
			return nil, fmt.Errorf("config: %s", strings.Join(msgs, "; "))
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	c.lines = map[string]int{}
	indexLines(&root, "", c.lines)
	return c, nil
}

// indexLines records the line of every key path ("aws[0].bucket").
func indexLines(n *yaml.Node, path string, out map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			indexLines(c, path, out)
		}
	case yaml.MappingNode:
		if path == "" {
			// The top level's line, for a top-level key that is missing.
			out[""] = n.Line
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			out[p] = k.Line
			indexLines(v, p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			out[p] = c.Line
			indexLines(c, p, out)
		}
	}
}

// Path is the file the config came from, if any.
func (c *Config) Path() string { return c.path }
