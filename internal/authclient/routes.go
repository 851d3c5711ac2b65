package authclient

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Route is one Auth API call: its method, its path below /api/auth/v1
// with every parameter escaped as one segment, and its query. Route
// values are what the URL builders and Do take, so every GET endpoint has
// both an unsigned and a signed URL.
type Route struct {
	Name   string // the API method name, e.g. "awsS3Credentials"
	Method string
	Path   string
	Query  url.Values
}

// seg escapes one path parameter as a single segment ("/" becomes %2F), as
// the official clients do; the {*prefix} wildcard accepts that too.
func seg(s string) string { return url.PathEscape(s) }

func route(name, method string, parts ...string) Route {
	return Route{Name: name, Method: method, Path: "/" + strings.Join(parts, "/")}
}

// with adds a query parameter only when it is non-empty: the service
// rejects unknown keys and some reject empty values.
func (r Route) with(key, value string) Route {
	if value == "" {
		return r
	}
	if r.Query == nil {
		r.Query = url.Values{}
	}
	r.Query.Set(key, value)
	return r
}

func limit(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// S3 levels.
const (
	ReadOnly  = "read-only"
	ReadWrite = "read-write"
)

// Route constructors, one per endpoint, in the order of the Auth
// service's API reference.

func PingRoute() Route        { return route("ping", http.MethodGet, "ping") }
func LBHeartbeatRoute() Route { return route("lbheartbeat", http.MethodGet, "__lbheartbeat__") }
func VersionRoute() Route     { return route("version", http.MethodGet, "__version__") }
func HeartbeatRoute() Route   { return route("heartbeat", http.MethodGet, "__heartbeat__") }

func ListClientsRoute(o ListClientsOptions) Route {
	return route("listClients", http.MethodGet, "clients", "").
		with("prefix", o.Prefix).with("continuationToken", o.ContinuationToken).with("limit", limit(o.Limit))
}
func ClientRoute(clientID string) Route {
	return route("client", http.MethodGet, "clients", seg(clientID))
}
func CreateClientRoute(clientID string) Route {
	return route("createClient", http.MethodPut, "clients", seg(clientID))
}
func ResetAccessTokenRoute(clientID string) Route {
	return route("resetAccessToken", http.MethodPost, "clients", seg(clientID), "reset")
}
func UpdateClientRoute(clientID string) Route {
	return route("updateClient", http.MethodPost, "clients", seg(clientID))
}
func EnableClientRoute(clientID string) Route {
	return route("enableClient", http.MethodPost, "clients", seg(clientID), "enable")
}
func DisableClientRoute(clientID string) Route {
	return route("disableClient", http.MethodPost, "clients", seg(clientID), "disable")
}
func DeleteClientRoute(clientID string) Route {
	return route("deleteClient", http.MethodDelete, "clients", seg(clientID))
}

func ListRolesRoute() Route { return route("listRoles", http.MethodGet, "roles", "") }
func ListRoles2Route(o PageOptions) Route {
	return route("listRoles2", http.MethodGet, "roles2", "").
		with("continuationToken", o.ContinuationToken).with("limit", limit(o.Limit))
}
func ListRoleIDsRoute(o PageOptions) Route {
	return route("listRoleIds", http.MethodGet, "roleids", "").
		with("continuationToken", o.ContinuationToken).with("limit", limit(o.Limit))
}
func RoleRoute(roleID string) Route { return route("role", http.MethodGet, "roles", seg(roleID)) }
func CreateRoleRoute(roleID string) Route {
	return route("createRole", http.MethodPut, "roles", seg(roleID))
}
func UpdateRoleRoute(roleID string) Route {
	return route("updateRole", http.MethodPost, "roles", seg(roleID))
}
func DeleteRoleRoute(roleID string) Route {
	return route("deleteRole", http.MethodDelete, "roles", seg(roleID))
}

func ExpandScopesRoute() Route  { return route("expandScopes", http.MethodPost, "scopes", "expand") }
func CurrentScopesRoute() Route { return route("currentScopes", http.MethodGet, "scopes", "current") }

// AWSS3CredentialsRoute builds awsS3Credentials. compat selects
// ?format=iam-role-compat.
func AWSS3CredentialsRoute(level, bucket, prefix string, compat bool) Route {
	r := route("awsS3Credentials", http.MethodGet, "aws", "s3", seg(level), seg(bucket), seg(prefix))
	if compat {
		r = r.with("format", "iam-role-compat")
	}
	return r
}

func AzureAccountsRoute() Route { return route("azureAccounts", http.MethodGet, "azure", "accounts") }
func AzureTablesRoute(account, continuationToken string) Route {
	return route("azureTables", http.MethodGet, "azure", seg(account), "tables").
		with("continuationToken", continuationToken)
}
func AzureTableSASRoute(account, table, level string) Route {
	return route("azureTableSAS", http.MethodGet, "azure", seg(account), "table", seg(table), seg(level))
}
func AzureContainersRoute(account, continuationToken string) Route {
	return route("azureContainers", http.MethodGet, "azure", seg(account), "containers").
		with("continuationToken", continuationToken)
}
func AzureContainerSASRoute(account, container, level string) Route {
	return route("azureContainerSAS", http.MethodGet, "azure", seg(account), "containers", seg(container), seg(level))
}
func SentryDSNRoute(project string) Route {
	return route("sentryDSN", http.MethodGet, "sentry", seg(project), "dsn")
}
func WebsocktunnelTokenRoute(audience, client string) Route {
	return route("websocktunnelToken", http.MethodGet, "websocktunnel", seg(audience), seg(client))
}
func GCPCredentialsRoute(projectID, serviceAccount string) Route {
	return route("gcpCredentials", http.MethodGet, "gcp", "credentials", seg(projectID), seg(serviceAccount))
}

// GitHubRepoTokenRoute builds githubRepoToken (experimental upstream).
func GitHubRepoTokenRoute(appName, owner string) Route {
	return route("githubRepoToken", http.MethodPost, "github", seg(appName), seg(owner), "repo-token")
}
func AuthenticateHawkRoute() Route {
	return route("authenticateHawk", http.MethodPost, "authenticate-hawk")
}
func TestAuthenticateRoute() Route {
	return route("testAuthenticate", http.MethodPost, "test-authenticate")
}
func TestAuthenticateGetRoute() Route {
	return route("testAuthenticateGet", http.MethodGet, "test-authenticate-get", "")
}
