package authclient

import "context"

// One typed method per Auth endpoint. Each is a Route plus Do; the
// behaviour (signing, retries, errors) lives in Do alone.

func call[T any](ctx context.Context, c *Client, r Route, in any) (*T, error) {
	out := new(T)
	if err := c.Do(ctx, r, in, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Client) Ping(ctx context.Context) (*PingResponse, error) {
	return call[PingResponse](ctx, c, PingRoute(), nil)
}
func (c *Client) LBHeartbeat(ctx context.Context) error {
	return c.Do(ctx, LBHeartbeatRoute(), nil, nil)
}
func (c *Client) Version(ctx context.Context) (*VersionResponse, error) {
	return call[VersionResponse](ctx, c, VersionRoute(), nil)
}
func (c *Client) Heartbeat(ctx context.Context) error { return c.Do(ctx, HeartbeatRoute(), nil, nil) }

func (c *Client) ListClients(ctx context.Context, o ListClientsOptions) (*ListClientsResponse, error) {
	return call[ListClientsResponse](ctx, c, ListClientsRoute(o), nil)
}
func (c *Client) Client(ctx context.Context, clientID string) (*ClientResponse, error) {
	return call[ClientResponse](ctx, c, ClientRoute(clientID), nil)
}
func (c *Client) CreateClient(ctx context.Context, clientID string, req *ClientRequest) (*CreateClientResponse, error) {
	return call[CreateClientResponse](ctx, c, CreateClientRoute(clientID), req)
}
func (c *Client) ResetAccessToken(ctx context.Context, clientID string) (*CreateClientResponse, error) {
	return call[CreateClientResponse](ctx, c, ResetAccessTokenRoute(clientID), nil)
}
func (c *Client) UpdateClient(ctx context.Context, clientID string, req *ClientRequest) (*ClientResponse, error) {
	return call[ClientResponse](ctx, c, UpdateClientRoute(clientID), req)
}
func (c *Client) EnableClient(ctx context.Context, clientID string) (*ClientResponse, error) {
	return call[ClientResponse](ctx, c, EnableClientRoute(clientID), nil)
}
func (c *Client) DisableClient(ctx context.Context, clientID string) (*ClientResponse, error) {
	return call[ClientResponse](ctx, c, DisableClientRoute(clientID), nil)
}
func (c *Client) DeleteClient(ctx context.Context, clientID string) error {
	return c.Do(ctx, DeleteClientRoute(clientID), nil, nil)
}

func (c *Client) ListRoles(ctx context.Context) ([]RoleResponse, error) {
	var out []RoleResponse
	if err := c.Do(ctx, ListRolesRoute(), nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}
func (c *Client) ListRoles2(ctx context.Context, o PageOptions) (*ListRoles2Response, error) {
	return call[ListRoles2Response](ctx, c, ListRoles2Route(o), nil)
}
func (c *Client) ListRoleIDs(ctx context.Context, o PageOptions) (*ListRoleIDsResponse, error) {
	return call[ListRoleIDsResponse](ctx, c, ListRoleIDsRoute(o), nil)
}
func (c *Client) Role(ctx context.Context, roleID string) (*RoleResponse, error) {
	return call[RoleResponse](ctx, c, RoleRoute(roleID), nil)
}
func (c *Client) CreateRole(ctx context.Context, roleID string, req *RoleRequest) (*RoleResponse, error) {
	return call[RoleResponse](ctx, c, CreateRoleRoute(roleID), req)
}
func (c *Client) UpdateRole(ctx context.Context, roleID string, req *RoleRequest) (*RoleResponse, error) {
	return call[RoleResponse](ctx, c, UpdateRoleRoute(roleID), req)
}
func (c *Client) DeleteRole(ctx context.Context, roleID string) error {
	return c.Do(ctx, DeleteRoleRoute(roleID), nil, nil)
}

func (c *Client) ExpandScopes(ctx context.Context, s []string) (*Scopes, error) {
	if s == nil {
		s = []string{}
	}
	return call[Scopes](ctx, c, ExpandScopesRoute(), &Scopes{Scopes: s})
}
func (c *Client) CurrentScopes(ctx context.Context) (*Scopes, error) {
	return call[Scopes](ctx, c, CurrentScopesRoute(), nil)
}

// AWSS3Credentials fetches S3 keys in the default response format.
func (c *Client) AWSS3Credentials(ctx context.Context, level, bucket, prefix string) (*AWSS3CredentialsResponse, error) {
	return call[AWSS3CredentialsResponse](ctx, c, AWSS3CredentialsRoute(level, bucket, prefix, false), nil)
}

// AWSS3CredentialsCompat fetches S3 keys in the iam-role-compat format.
func (c *Client) AWSS3CredentialsCompat(ctx context.Context, level, bucket, prefix string) (*AWSS3CompatResponse, error) {
	return call[AWSS3CompatResponse](ctx, c, AWSS3CredentialsRoute(level, bucket, prefix, true), nil)
}

func (c *Client) AzureAccounts(ctx context.Context) (*AzureAccountsResponse, error) {
	return call[AzureAccountsResponse](ctx, c, AzureAccountsRoute(), nil)
}
func (c *Client) AzureTables(ctx context.Context, account, continuationToken string) (*AzureTablesResponse, error) {
	return call[AzureTablesResponse](ctx, c, AzureTablesRoute(account, continuationToken), nil)
}
func (c *Client) AzureTableSAS(ctx context.Context, account, table, level string) (*AzureSASResponse, error) {
	return call[AzureSASResponse](ctx, c, AzureTableSASRoute(account, table, level), nil)
}
func (c *Client) AzureContainers(ctx context.Context, account, continuationToken string) (*AzureContainersResponse, error) {
	return call[AzureContainersResponse](ctx, c, AzureContainersRoute(account, continuationToken), nil)
}
func (c *Client) AzureContainerSAS(ctx context.Context, account, container, level string) (*AzureSASResponse, error) {
	return call[AzureSASResponse](ctx, c, AzureContainerSASRoute(account, container, level), nil)
}
func (c *Client) SentryDSN(ctx context.Context, project string) (*SentryDSNResponse, error) {
	return call[SentryDSNResponse](ctx, c, SentryDSNRoute(project), nil)
}
func (c *Client) WebsocktunnelToken(ctx context.Context, audience, client string) (*WebsocktunnelTokenResponse, error) {
	return call[WebsocktunnelTokenResponse](ctx, c, WebsocktunnelTokenRoute(audience, client), nil)
}
func (c *Client) GCPCredentials(ctx context.Context, projectID, serviceAccount string) (*GCPCredentialsResponse, error) {
	return call[GCPCredentialsResponse](ctx, c, GCPCredentialsRoute(projectID, serviceAccount), nil)
}

// GitHubRepoToken asks for a GitHub App installation token for
// repositories of owner, with the permissions asked (name → level).
func (c *Client) GitHubRepoToken(ctx context.Context, appName, owner string, req *GitHubRepoTokenRequest) (*GitHubTokenResponse, error) {
	return call[GitHubTokenResponse](ctx, c, GitHubRepoTokenRoute(appName, owner), req)
}
func (c *Client) AuthenticateHawk(ctx context.Context, req *AuthenticateHawkRequest) (*AuthenticateHawkResponse, error) {
	return call[AuthenticateHawkResponse](ctx, c, AuthenticateHawkRoute(), req)
}
func (c *Client) TestAuthenticate(ctx context.Context, req *TestAuthenticateRequest) (*TestAuthenticateResponse, error) {
	return call[TestAuthenticateResponse](ctx, c, TestAuthenticateRoute(), req)
}
func (c *Client) TestAuthenticateGet(ctx context.Context) (*TestAuthenticateResponse, error) {
	return call[TestAuthenticateResponse](ctx, c, TestAuthenticateGetRoute(), nil)
}

// Paginated listings, followed to the end.

// Pages calls page with each continuation token in turn, starting from
// "", until a page returns no token. It stops early on an error.
func Pages(ctx context.Context, page func(ctx context.Context, token string) (next string, err error)) error {
	token := ""
	for {
		next, err := page(ctx, token)
		if err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		token = next
	}
}

// collect follows a listing to its end: fetch gets one page for a token,
// take returns its items and the next token.
func collect[P, T any](ctx context.Context, fetch func(context.Context, string) (*P, error), take func(*P) ([]T, string)) ([]T, error) {
	var out []T
	err := Pages(ctx, func(ctx context.Context, token string) (string, error) {
		p, err := fetch(ctx, token)
		if err != nil {
			return "", err
		}
		items, next := take(p)
		out = append(out, items...)
		return next, nil
	})
	return out, err
}

// AllClients lists every client whose id starts with prefix.
func (c *Client) AllClients(ctx context.Context, prefix string) ([]ClientResponse, error) {
	return collect(ctx,
		func(ctx context.Context, t string) (*ListClientsResponse, error) {
			return c.ListClients(ctx, ListClientsOptions{Prefix: prefix, ContinuationToken: t})
		},
		func(r *ListClientsResponse) ([]ClientResponse, string) { return r.Clients, r.ContinuationToken })
}

// AllRoles lists every role through listRoles2.
func (c *Client) AllRoles(ctx context.Context) ([]RoleResponse, error) {
	return collect(ctx,
		func(ctx context.Context, t string) (*ListRoles2Response, error) {
			return c.ListRoles2(ctx, PageOptions{ContinuationToken: t})
		},
		func(r *ListRoles2Response) ([]RoleResponse, string) { return r.Roles, r.ContinuationToken })
}

// AllRoleIDs lists every role id.
func (c *Client) AllRoleIDs(ctx context.Context) ([]string, error) {
	return collect(ctx,
		func(ctx context.Context, t string) (*ListRoleIDsResponse, error) {
			return c.ListRoleIDs(ctx, PageOptions{ContinuationToken: t})
		},
		func(r *ListRoleIDsResponse) ([]string, string) { return r.RoleIDs, r.ContinuationToken })
}

// AllAzureTables lists every table of an account.
func (c *Client) AllAzureTables(ctx context.Context, account string) ([]string, error) {
	return collect(ctx,
		func(ctx context.Context, t string) (*AzureTablesResponse, error) {
			return c.AzureTables(ctx, account, t)
		},
		func(r *AzureTablesResponse) ([]string, string) { return r.Tables, r.ContinuationToken })
}

// AllAzureContainers lists every container of an account.
func (c *Client) AllAzureContainers(ctx context.Context, account string) ([]string, error) {
	return collect(ctx,
		func(ctx context.Context, t string) (*AzureContainersResponse, error) {
			return c.AzureContainers(ctx, account, t)
		},
		func(r *AzureContainersResponse) ([]string, string) { return r.Containers, r.ContinuationToken })
}
