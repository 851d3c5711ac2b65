package authclient

import (
	"time"

	"github.com/taskcluster/tc-credd/internal/secret"
)

// Request and response types. JSON names are the Auth service's exactly.
// Every secret the service returns decodes into
// a secret.String, which redacts itself in every formatting path.

// PingResponse is the reply of ping.
type PingResponse struct {
	Alive  bool    `json:"alive"`
	Uptime float64 `json:"uptime"`
}

// VersionResponse is the reply of version (__version__).
type VersionResponse struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Source  string `json:"source"`
	Build   string `json:"build"`
}

// Empty is the reply of lbheartbeat and heartbeat.
type Empty struct{}

// ClientResponse describes a client.
type ClientResponse struct {
	ClientID           string    `json:"clientId"`
	Description        string    `json:"description"`
	Expires            time.Time `json:"expires"`
	Created            time.Time `json:"created"`
	LastModified       time.Time `json:"lastModified"`
	LastDateUsed       time.Time `json:"lastDateUsed"`
	LastRotated        time.Time `json:"lastRotated"`
	Scopes             []string  `json:"scopes"`
	ExpandedScopes     []string  `json:"expandedScopes"`
	Disabled           bool      `json:"disabled"`
	DeleteOnExpiration bool      `json:"deleteOnExpiration"`
}

// CreateClientResponse is a client with its new access token
// (createClient, resetAccessToken).
type CreateClientResponse struct {
	ClientResponse
	AccessToken secret.String `json:"accessToken"`
}

// ClientRequest is the body of createClient and updateClient. Scopes nil
// is left out: updateClient then keeps the existing scopes.
type ClientRequest struct {
	Expires            time.Time `json:"expires"`
	Description        string    `json:"description"`
	Scopes             []string  `json:"scopes,omitempty"`
	DeleteOnExpiration bool      `json:"deleteOnExpiration"`
}

// ListClientsOptions are listClients' query parameters.
type ListClientsOptions struct {
	Prefix            string
	ContinuationToken string
	Limit             int
}

// ListClientsResponse is one page of listClients.
type ListClientsResponse struct {
	Clients           []ClientResponse `json:"clients"`
	ContinuationToken string           `json:"continuationToken,omitempty"`
}

// RoleRequest is the body of createRole and updateRole.
type RoleRequest struct {
	Description string   `json:"description"`
	Scopes      []string `json:"scopes"`
}

// RoleResponse describes a role.
type RoleResponse struct {
	RoleID         string    `json:"roleId"`
	Description    string    `json:"description"`
	Scopes         []string  `json:"scopes"`
	ExpandedScopes []string  `json:"expandedScopes"`
	Created        time.Time `json:"created"`
	LastModified   time.Time `json:"lastModified"`
}

// PageOptions are continuationToken and limit, for listRoles2 and
// listRoleIds.
type PageOptions struct {
	ContinuationToken string
	Limit             int
}

// ListRoles2Response is one page of listRoles2.
type ListRoles2Response struct {
	Roles             []RoleResponse `json:"roles"`
	ContinuationToken string         `json:"continuationToken,omitempty"`
}

// ListRoleIDsResponse is one page of listRoleIds.
type ListRoleIDsResponse struct {
	RoleIDs           []string `json:"roleIds"`
	ContinuationToken string   `json:"continuationToken,omitempty"`
}

// Scopes is the {scopes} shape of expandScopes and currentScopes.
type Scopes struct {
	Scopes []string `json:"scopes"`
}

// AWSCredentials are STS federation-token keys.
type AWSCredentials struct {
	AccessKeyID     string        `json:"accessKeyId"`
	SecretAccessKey secret.String `json:"secretAccessKey"`
	SessionToken    secret.String `json:"sessionToken"`
}

// AWSS3CredentialsResponse is awsS3Credentials' default reply.
type AWSS3CredentialsResponse struct {
	Credentials AWSCredentials `json:"credentials"`
	Expires     time.Time      `json:"expires"`
}

// AWSS3CompatResponse is awsS3Credentials' ?format=iam-role-compat reply,
// in IMDS's key order. Times arrive with milliseconds.
type AWSS3CompatResponse struct {
	Code            string        `json:"Code"`
	Type            string        `json:"Type"`
	LastUpdated     time.Time     `json:"LastUpdated"`
	AccessKeyID     string        `json:"AccessKeyId"`
	SecretAccessKey secret.String `json:"SecretAccessKey"`
	Token           secret.String `json:"Token"`
	Expiration      time.Time     `json:"Expiration"`
}

// AzureAccountsResponse is azureAccounts' reply.
type AzureAccountsResponse struct {
	Accounts []string `json:"accounts"`
}

// AzureTablesResponse is one page of azureTables.
type AzureTablesResponse struct {
	Tables            []string `json:"tables"`
	ContinuationToken string   `json:"continuationToken,omitempty"`
}

// AzureContainersResponse is one page of azureContainers.
type AzureContainersResponse struct {
	Containers        []string `json:"containers"`
	ContinuationToken string   `json:"continuationToken,omitempty"`
}

// AzureSASResponse is azureTableSAS' and azureContainerSAS' reply. The sas
// is query-string parameters without a leading "?".
type AzureSASResponse struct {
	SAS    secret.String `json:"sas"`
	Expiry time.Time     `json:"expiry"`
}

// SentryDSN holds both forms of a DSN; each embeds a key.
type SentryDSN struct {
	Secret secret.String `json:"secret"`
	Public secret.String `json:"public"`
}

// SentryDSNResponse is sentryDSN's reply.
type SentryDSNResponse struct {
	Project string    `json:"project"`
	DSN     SentryDSN `json:"dsn"`
	Expires time.Time `json:"expires"`
}

// WebsocktunnelTokenResponse is websocktunnelToken's reply; the token is a
// JWT sent as "Bearer <token>".
type WebsocktunnelTokenResponse struct {
	WstClient   string        `json:"wstClient"`
	WstAudience string        `json:"wstAudience"`
	Token       secret.String `json:"token"`
	Expires     time.Time     `json:"expires"`
}

// GCPCredentialsResponse is gcpCredentials' reply, Google's
// generateAccessToken answer passed through.
type GCPCredentialsResponse struct {
	AccessToken secret.String `json:"accessToken"`
	ExpireTime  time.Time     `json:"expireTime"`
}

// AuthenticateHawkRequest is the body of authenticateHawk. Method is
// lowercase and Resource keeps the query order. Authorization is the
// header under test; it is sent as given.
type AuthenticateHawkRequest struct {
	Method        string `json:"method"`
	Resource      string `json:"resource"`
	Host          string `json:"host"`
	Port          int    `json:"port"`
	Authorization string `json:"authorization,omitempty"`
	SourceIP      string `json:"sourceIp,omitempty"`
}

// AuthenticateHawkResponse is authenticateHawk's reply; Status is
// "auth-success", "auth-failed" or "no-auth".
type AuthenticateHawkResponse struct {
	Status   string     `json:"status"`
	Scopes   []string   `json:"scopes,omitempty"`
	Scheme   string     `json:"scheme,omitempty"`
	ClientID string     `json:"clientId,omitempty"`
	Expires  *time.Time `json:"expires,omitempty"`
	Hash     string     `json:"hash,omitempty"`
	Message  string     `json:"message,omitempty"`
}

// TestAuthenticateRequest is the body of testAuthenticate.
type TestAuthenticateRequest struct {
	ClientScopes   []string `json:"clientScopes"`
	RequiredScopes []string `json:"requiredScopes"`
}

// TestAuthenticateResponse is the reply of testAuthenticate and
// testAuthenticateGet.
type TestAuthenticateResponse struct {
	ClientID string   `json:"clientId"`
	Scopes   []string `json:"scopes"`
}

// GitHubRepoTokenRequest asks for an installation token: permission name →
// level ("read", "write"), and the repositories (within the owner).
type GitHubRepoTokenRequest struct {
	Permissions  map[string]string `json:"permissions"`
	Repositories []string          `json:"repositories"`
}

// GitHubTokenResponse is githubRepoToken's reply.
type GitHubTokenResponse struct {
	Token   secret.String `json:"token"`
	Expires time.Time     `json:"expires"`
}
