// Package render turns the refresher's current credential into each
// protocol's document: IMDS, container credentials, GCE tokens, the
// Taskcluster JSON shape, env files, AWS shared-credentials profiles and
// template data. The functions are pure, so each shape is tested without a
// server; they and the sinks' writes are the only places a secret is
// revealed on purpose.
package render

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/taskcluster/tc-credd/internal/refresher"
)

// AWSTime formats a time as IMDS does: UTC, whole seconds, "Z"
// (Taskcluster sends milliseconds; boto parses exactly this form).
func AWSTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// JSTime formats a time as Taskcluster does (JS toJSON).
func JSTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// ContainerCredentials is the AWS container-credentials document, also
// the credential_process document's core.
type ContainerCredentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
}

// Container renders an aws credential as container credentials.
func Container(c *refresher.Credential) ContainerCredentials {
	return ContainerCredentials{
		AccessKeyID:     c.AWS.AccessKeyID,
		SecretAccessKey: c.AWS.SecretAccessKey.Reveal(),
		Token:           c.AWS.SessionToken.Reveal(),
		Expiration:      AWSTime(c.Expires),
	}
}

// IMDSCredentials is the document of
// /latest/meta-data/iam/security-credentials/<role>: the container
// document behind Code, LastUpdated and Type, in IMDS's key order.
type IMDSCredentials struct {
	Code        string `json:"Code"`
	LastUpdated string `json:"LastUpdated"`
	Type        string `json:"Type"`
	ContainerCredentials
}

// IMDS renders an aws credential as the IMDS role document.
func IMDS(c *refresher.Credential) IMDSCredentials {
	return IMDSCredentials{Code: "Success", LastUpdated: AWSTime(c.Issued), Type: "AWS-HMAC", ContainerCredentials: Container(c)}
}

// IAMInfo is /latest/meta-data/iam/info.
type IAMInfo struct {
	Code               string `json:"Code"`
	LastUpdated        string `json:"LastUpdated"`
	InstanceProfileArn string `json:"InstanceProfileArn"`
	InstanceProfileID  string `json:"InstanceProfileId"`
}

// IAMInfoFor describes the role. There is no real instance profile; the
// ARN uses the reserved account 000000000000 and a stable made-up id, so
// tools that only check Code accept it and nobody mistakes it for AWS's.
func IAMInfoFor(role string, updated time.Time) IAMInfo {
	sum := sha256.Sum256([]byte(role))
	return IAMInfo{
		Code:               "Success",
		LastUpdated:        AWSTime(updated),
		InstanceProfileArn: "arn:aws:iam::000000000000:instance-profile/" + role,
		InstanceProfileID:  "AIPA" + strings.ToUpper(hex.EncodeToString(sum[:8])),
	}
}

// GCETokenDoc is the GCE token document.
type GCETokenDoc struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	TokenType   string `json:"token_type"`
}

// GCEToken counts expires_in down from now: Google clients refresh by it.
func GCEToken(c *refresher.Credential, now time.Time) GCETokenDoc {
	return GCETokenDoc{
		AccessToken: c.GCP.AccessToken.Reveal(),
		ExpiresIn:   int64(c.Expires.Sub(now) / time.Second),
		TokenType:   "Bearer",
	}
}

// GCEServiceAccount is .../service-accounts/<acct>/?recursive=true.
type GCEServiceAccount struct {
	Aliases []string `json:"aliases"`
	Email   string   `json:"email"`
	Scopes  []string `json:"scopes"`
}

// CloudPlatform is the only scope gcpCredentials grants.
const CloudPlatform = "https://www.googleapis.com/auth/cloud-platform"

// Taskcluster renders a credential in the Taskcluster response shape
// of its kind, for the JSON API; aws uses the container shape.
func Taskcluster(c *refresher.Credential) any {
	switch c.Kind {
	case refresher.AWS:
		return Container(c)
	case refresher.GCP:
		return struct {
			AccessToken string `json:"accessToken"`
			ExpireTime  string `json:"expireTime"`
		}{c.GCP.AccessToken.Reveal(), c.Expires.UTC().Format(time.RFC3339)}
	case refresher.Azure:
		return struct {
			SAS    string `json:"sas"`
			Expiry string `json:"expiry"`
		}{c.Azure.SAS.Reveal(), JSTime(c.Expires)}
	case refresher.Sentry:
		type dsn struct {
			Secret string `json:"secret"`
			Public string `json:"public"`
		}
		return struct {
			Project string `json:"project"`
			DSN     dsn    `json:"dsn"`
			Expires string `json:"expires"`
		}{c.Sentry.Project, dsn{c.Sentry.Secret.Reveal(), c.Sentry.Public.Reveal()}, JSTime(c.Expires)}
	case refresher.Websocktunnel:
		return struct {
			WstClient   string `json:"wstClient"`
			WstAudience string `json:"wstAudience"`
			Token       string `json:"token"`
			Expires     string `json:"expires"`
		}{c.Websocktunnel.Client, c.Websocktunnel.Audience, c.Websocktunnel.Token.Reveal(), JSTime(c.Expires)}
	case refresher.GitHub:
		return struct {
			Token   string `json:"token"`
			Expires string `json:"expires"`
		}{c.GitHub.Token.Reveal(), AWSTime(c.Expires)}
	}
	return nil
}

// KeySuffix is what an access log may show of a credential: the last four
// characters of an AWS key id, nothing for the other kinds.
func KeySuffix(c *refresher.Credential) string {
	if c.AWS == nil || len(c.AWS.AccessKeyID) < 8 {
		return ""
	}
	return c.AWS.AccessKeyID[len(c.AWS.AccessKeyID)-4:]
}
