// Drives the official taskcluster-client (and the hawk library it signs
// with) against tc-credd's fake Auth service, and checks what a client of
// the real service reads: status, error code, message and reply fields.
// The Go test TestOfficialClientConformance (conformance_test.go) starts
// the fake, sets up its clients and passes them here on stdin; this script
// prints one JSON object per check on stdout.
import taskcluster from 'taskcluster-client';
import hawk from 'hawk';

const input = JSON.parse(await new Promise(resolve => {
  let text = '';
  process.stdin.on('data', d => { text += d; });
  process.stdin.on('end', () => resolve(text));
}));
const { rootUrl, skewedRootUrl, skewMs, clients, bucket, prefix, azureAccount, gcpProject } = input;

const results = [];
const check = (name, ok, detail) => {
  results.push({ name, ok: !!ok, detail: ok ? '' : JSON.stringify(detail) });
};

const auth = (credentials, extra = {}) => new taskcluster.Auth({ rootUrl, credentials, retries: 0, ...extra });
const admin = auth(clients.admin);

// fails runs a call that must fail and returns the error the client threw.
const fails = async (fn) => {
  try {
    const res = await fn();
    return { statusCode: 200, code: 'none', message: '', body: res };
  } catch (err) {
    return err;
  }
};

// The shape of every error body the service sends (express-error.js).
const checkErrorBody = (name, err, method) => {
  const info = err.body && err.body.requestInfo;
  check(`${name}: requestInfo`, info && info.method === method && typeof info.params === 'object' &&
    'payload' in info && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(info.time), err.body);
  check(`${name}: message footer`, err.message.includes(`\n\n---\n\n* method:     ${method}\n* errorCode:  ${err.code}\n* statusCode: ${err.statusCode}\n* time:       ${info && info.time}`), err.message);
};

const expectError = async (name, fn, status, code, method, messageTest) => {
  const err = await fails(fn);
  check(`${name}: status ${status} ${code}`, err.statusCode === status && err.code === code, { status: err.statusCode, code: err.code, message: err.message });
  if (err.statusCode === status) {
    checkErrorBody(name, err, method);
    if (messageTest) {
      check(`${name}: message`, messageTest(err.message), err.message);
    }
  }
  return err;
};

// scopeCompare is the service's sort order for scope sets.
const scopeCompare = (a, b) => {
  const as = a.endsWith('*'), bs = b.endsWith('*');
  const at = as ? a.slice(0, -1) : a, bt = bs ? b.slice(0, -1) : b;
  if (as !== bs && at === bt) return as ? -1 : 1;
  return at < bt ? -1 : at > bt ? 1 : 0;
};
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const isISO = s => typeof s === 'string' && !Number.isNaN(Date.parse(s)) && s.endsWith('Z');

// Raw requests, for what the client library hides: headers, payload hashes.
const raw = async (url, { method = 'GET', body, authorization, contentType } = {}) => {
  const headers = {};
  if (authorization) headers.authorization = authorization;
  if (contentType) headers['content-type'] = contentType;
  const res = await fetch(url, { method, body, headers });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, json };
};
const apiUrl = (root, path) => `${root}/api/auth/v1${path}`;
const hawkCreds = c => ({ id: c.clientId, key: c.accessToken, algorithm: 'sha256' });

try {
// --- Endpoints without scopes never authenticate.
const badKey = auth({ clientId: clients.admin.clientId, accessToken: 'not-the-key' });
for (const m of ['ping', 'lbheartbeat', 'version', 'heartbeat']) {
  const err = await fails(() => badKey[m]());
  check(`${m} with a bad signature: 200`, err.statusCode === 200, err.message);
}
check('ping reply', (await badKey.ping()).alive === true, null);

// --- Authentication failures, in the service's words.
await expectError('bad mac', () => badKey.currentScopes(), 401, 'AuthenticationFailed', 'currentScopes', m => m.startsWith('Unauthorized: Bad mac\n'));
await expectError('unknown client', () => auth({ clientId: 'conformance/ghost', accessToken: 'x' }).currentScopes(), 401, 'AuthenticationFailed', 'currentScopes',
  m => m.startsWith("Client with clientId 'conformance/ghost' not found\n"));
const tooLong = Array.from({ length: 200 }, (_, i) => `auth:sentry:project-number-${i}`);
await expectError('header too long', () => auth(clients.admin, { authorizedScopes: tooLong }).currentScopes(), 401, 'AuthenticationFailed', 'currentScopes',
  m => m.startsWith('Bad Request: Header length too long\n'));

// --- Permanent credentials: scope sets sorted and normalized.
const reader = auth(clients.reader);
const readerScopes = (await reader.currentScopes()).scopes;
check('currentScopes sorted and normalized', same(readerScopes, clients.reader.expectScopes), readerScopes);
check('currentScopes in scopeCompare order', same(readerScopes, [...readerScopes].sort(scopeCompare)), readerScopes);

// --- Temporary credentials, unnamed and named.
const now = Date.now();
const unnamed = taskcluster.createTemporaryCredentials({
  scopes: ['auth:sentry:temp', 'auth:websocktunnel-token:*', 'auth:current-scopes'], expiry: new Date(now + 3600e3), credentials: clients.admin,
});
const temp = auth(unnamed);
check('unnamed temporary: currentScopes', same((await temp.currentScopes()).scopes, ['assume:anonymous', 'auth:current-scopes', 'auth:sentry:temp', 'auth:websocktunnel-token:*']), null);
await expectError('unnamed temporary: certificate scopes apply', () => temp.sentryDSN('other'), 403, 'InsufficientScopes', 'sentryDSN');
const named = taskcluster.createTemporaryCredentials({
  clientId: 'conformance/named', scopes: ['auth:websocktunnel-token:*'], expiry: new Date(now + 3600e3), credentials: clients.admin,
});
const namedAuth = auth(named);
const wst = await namedAuth.websocktunnelToken('audience1', 'wst-client.1');
const claims = JSON.parse(Buffer.from(wst.token.split('.')[1], 'base64url').toString());
check('websocktunnel reply', wst.wstClient === 'wst-client.1' && wst.wstAudience === 'audience1' && isISO(wst.expires), wst);
check('websocktunnel claims: tid is the wstClient, sub the caller', claims.tid === 'wst-client.1' && claims.sub === 'conformance/named' && claims.aud === 'audience1' && claims.iss === 'taskcluster-auth', claims);
check('websocktunnel claims: times', claims.nbf === claims.iat - 900 && claims.exp === claims.iat + 96 * 3600 && Date.parse(wst.expires) === claims.exp * 1000 &&
  Math.abs(claims.iat * 1000 - now) < 60e3, claims);
const notAllowed = taskcluster.createTemporaryCredentials({
  clientId: 'elsewhere/named', scopes: [], expiry: new Date(now + 3600e3), credentials: clients.reader,
});
await expectError('named temporary without auth:create-client', () => auth(notAllowed).currentScopes(), 401, 'AuthenticationFailed', 'currentScopes',
  m => m.startsWith(`ext.certificate issuer \`${clients.reader.clientId}\` doesn't have \`auth:create-client:elsewhere/named\` for supplied clientId.`));

const badScope = taskcluster.createTemporaryCredentials({ scopes: ['caf\u00e9'], expiry: new Date(now + 3600e3), credentials: clients.admin });
await expectError('temporary credentials with a non-ASCII scope', () => auth(badScope).currentScopes(), 401, 'AuthenticationFailed', 'currentScopes',
  m => m.startsWith('ext.certificate.scopes must be an array of valid scopes\n'));

// --- authorizedScopes.
const restricted = auth(clients.admin, { authorizedScopes: ['auth:sentry:p', 'auth:current-scopes'] });
check('authorizedScopes: currentScopes', same((await restricted.currentScopes()).scopes, ['assume:anonymous', 'auth:current-scopes', 'auth:sentry:p']), null);
await expectError('authorizedScopes beyond the client', () => auth(clients.reader, { authorizedScopes: ['auth:gcp:*'] }).currentScopes(), 401, 'AuthenticationFailed', 'currentScopes',
  m => m.startsWith('Supplied credentials do not satisfy authorizedScopes; credentials have scopes:\n\n```\n'));

// --- Bewits from buildSignedUrl.
for (const [name, client] of [['permanent', admin], ['temporary', temp]]) {
  const url = client.buildSignedUrl(client.currentScopes);
  const res = await raw(url);
  check(`bewit (${name}): 200 with scopes`, res.status === 200 && Array.isArray(res.json.scopes), res);
}
const s3url = admin.buildSignedUrl(admin.awsS3Credentials, 'read-only', bucket, prefix, { format: 'iam-role-compat' });
const s3res = await raw(s3url);
check('bewit for S3 iam-role-compat', s3res.status === 200 && s3res.json.Code === 'Success', s3res.status);
const expired = await raw(admin.buildSignedUrl(admin.currentScopes, { expiration: -60 }));
check('expired bewit: 401 Access expired', expired.status === 401 && expired.json.code === 'AuthenticationFailed' &&
  expired.json.message.startsWith('Unauthorized: Access expired\n'), expired.json);

// --- Every credential endpoint.
const s3 = await admin.awsS3Credentials('read-write', bucket, prefix);
check('awsS3Credentials', s3.credentials.accessKeyId && s3.credentials.secretAccessKey && s3.credentials.sessionToken && isISO(s3.expires), Object.keys(s3));
const compat = await admin.awsS3Credentials('read-only', bucket, prefix, { format: 'iam-role-compat' });
check('awsS3Credentials iam-role-compat', compat.Code === 'Success' && compat.Type === 'AWS-HMAC' && compat.AccessKeyId && compat.SecretAccessKey && compat.Token &&
  compat.Expiration.endsWith('.000Z') && isISO(compat.LastUpdated), compat.Expiration);
check('iam-role-compat key order', same(Object.keys(compat), ['Code', 'Type', 'LastUpdated', 'AccessKeyId', 'SecretAccessKey', 'Token', 'Expiration']), Object.keys(compat));
const accounts = await admin.azureAccounts();
check('azureAccounts', same(accounts.accounts, [azureAccount]), accounts);
const tableSAS = await admin.azureTableSAS(azureAccount, 'ConformanceTable', 'read-write');
check('azureTableSAS', typeof tableSAS.sas === 'string' && isISO(tableSAS.expiry), Object.keys(tableSAS));
check('azureTables', (await admin.azureTables(azureAccount)).tables.includes('ConformanceTable'), null);
check('azureTables from a marker', (await admin.azureTables(azureAccount, { continuationToken: 'Conformance' })).tables.includes('ConformanceTable'), null);
const contSAS = await admin.azureContainerSAS(azureAccount, 'conformance-container', 'read-only');
check('azureContainerSAS', typeof contSAS.sas === 'string' && isISO(contSAS.expiry), Object.keys(contSAS));
check('azureContainers', Array.isArray((await admin.azureContainers(azureAccount)).containers), null);
await expectError('unknown azure account', () => admin.azureTables('nosuchaccount'), 404, 'ResourceNotFound', 'azureTables',
  m => m.startsWith("Account 'nosuchaccount' not found, can't delegate access\n"));
const dsn = await admin.sentryDSN('conformance');
check('sentryDSN', dsn.project === 'conformance' && dsn.dsn.secret && dsn.dsn.public && isISO(dsn.expires), Object.keys(dsn));
const gcp = await admin.gcpCredentials(gcpProject, `svc@${gcpProject}.iam.gserviceaccount.com`);
check('gcpCredentials', gcp.accessToken && isISO(gcp.expireTime), Object.keys(gcp));
await expectError('gcp service account not allowed', () => admin.gcpCredentials('other-project', 'evil@other-project.iam.gserviceaccount.com'), 400, 'InvalidRequestArguments', 'gcpCredentials',
  m => m.startsWith("The service account evil@other-project.iam.gserviceaccount.com isn't allowed\n"));
await expectError('gcp project not configured', () => admin.gcpCredentials('other-project', `svc@${gcpProject}.iam.gserviceaccount.com`), 404, 'ResourceNotFound', 'gcpCredentials',
  m => m.startsWith('The projectId other-project is not configured\n'));
await expectError('invalid URL parameter', () => admin.sentryDSN('bad.project'), 400, 'InvalidRequestArguments', 'sentryDSN',
  m => m.startsWith("Invalid URL patterns:\nURL parameter 'project' given as 'bad.project' must match regular expression: '/^[a-zA-Z0-9_-]{1,64}$/'\n"));
await expectError('S3 prefix starting with a slash', () => admin.awsS3Credentials('read-write', bucket, '/abs'), 400, 'InputError', 'awsS3Credentials',
  m => m.startsWith('The `prefix` may not start with a slash `/`; got `/abs`\n'));

// --- Missing scopes, rendered as lib-api renders them.
await expectError('read-write S3 without the scope: bare scope', () => reader.awsS3Credentials('read-write', bucket, prefix), 403, 'InsufficientScopes', 'awsS3Credentials',
  m => m.startsWith(`Client ID ${clients.reader.clientId} does not have sufficient scopes and is missing the following scopes:\n\n\`\`\`\nauth:aws-s3:read-write:${bucket}/${prefix}\n\`\`\`\n\nThis request requires the client to satisfy the following scope expression:\n\n\`\`\`\nauth:aws-s3:read-write:${bucket}/${prefix}\n\`\`\`\n\n---`));
const anyOf = JSON.stringify({ AnyOf: [`auth:aws-s3:read-only:${bucket}/other/`, `auth:aws-s3:read-write:${bucket}/other/`] }, null, 2);
await expectError('read-only S3 without either scope: AnyOf', () => reader.awsS3Credentials('read-only', bucket, 'other/'), 403, 'InsufficientScopes', 'awsS3Credentials',
  m => m.includes(`missing the following scopes:\n\n\`\`\`\n${anyOf}\n\`\`\`\n\nThis request requires the client to satisfy the following scope expression:\n\n\`\`\`\n${anyOf}\n\`\`\``));
await expectError('sentry without the scope', () => reader.sentryDSN('nope'), 403, 'InsufficientScopes', 'sentryDSN',
  m => m.includes('missing the following scopes:\n\n```\nauth:sentry:nope\n```'));
await expectError('anonymous', () => auth({}).sentryDSN('nope'), 403, 'InsufficientScopes', 'sentryDSN',
  m => m.startsWith('This request requires Taskcluster credentials that satisfy the following scope expression:\n\n```\nauth:sentry:nope\n```\n\n---'));
const allOf = JSON.stringify({ AllOf: ['auth:create-client:conformance/x', 'queue:a', 'queue:b'] }, null, 2);
await expectError('createClient beyond the caller: AllOf', () => reader.createClient('conformance/x', { expires: new Date(now + 3600e3), description: 'd', scopes: ['queue:a', 'queue:b'] }),
  403, 'InsufficientScopes', 'createClient', m => m.includes(`missing the following scopes:\n\n\`\`\`\n${allOf}\n\`\`\``));

// --- Client life cycle.
const expires = new Date(now + 86400e3).toJSON();
const body = { expires, description: 'conformance', scopes: ['auth:sentry:lifecycle', 'auth:current-scopes'] };
const created = await admin.createClient('conformance/lifecycle', body);
check('createClient', created.clientId === 'conformance/lifecycle' && created.accessToken && created.expires === expires &&
  same(created.expandedScopes, ['auth:current-scopes', 'auth:sentry:lifecycle']), created);
const again = await fails(() => admin.createClient('conformance/lifecycle', body));
check('createClient again, same body: 200, same client', again.statusCode === 200 && again.body.accessToken === created.accessToken, again.message);
await expectError('createClient again, other body', () => admin.createClient('conformance/lifecycle', { ...body, description: 'other' }), 409, 'RequestConflict', 'createClient',
  m => m.startsWith('Client already exists\n'));
await expectError('createClient static/', () => admin.createClient('static/x', body), 400, 'InputError', 'createClient',
  m => m.startsWith('clientId "static/x" starts with "static/" which is reserved for statically configured clients.'));
await expectError('createClient repeated scope', () => admin.createClient('conformance/dup', { expires, description: 'd', scopes: ['a', 'a'] }), 400, 'InputValidationError', 'createClient');
const lifecycle = auth({ clientId: 'conformance/lifecycle', accessToken: created.accessToken });
check('new client authenticates', (await lifecycle.currentScopes()).scopes.includes('auth:sentry:lifecycle'), null);
const got = await admin.client('conformance/lifecycle');
check('client', got.clientId === 'conformance/lifecycle' && !('accessToken' in got) && got.disabled === false, got);
const updated = await admin.updateClient('conformance/lifecycle', { ...body, description: 'updated' });
check('updateClient', updated.description === 'updated', updated);
const reset = await admin.resetAccessToken('conformance/lifecycle');
check('resetAccessToken', reset.accessToken && reset.accessToken !== created.accessToken, null);
await expectError('old token after reset', () => lifecycle.currentScopes(), 401, 'AuthenticationFailed', 'currentScopes', m => m.startsWith('Unauthorized: Bad mac\n'));
const renewed = auth({ clientId: 'conformance/lifecycle', accessToken: reset.accessToken });
check('disableClient', (await admin.disableClient('conformance/lifecycle')).disabled === true, null);
await expectError('disabled client', () => renewed.currentScopes(), 401, 'AuthenticationFailed', 'currentScopes',
  m => m.startsWith("Client with clientId 'conformance/lifecycle' is disabled\n"));
check('enableClient', (await admin.enableClient('conformance/lifecycle')).disabled === false, null);
check('enabled client authenticates', Array.isArray((await renewed.currentScopes()).scopes), null);
const listed = await admin.listClients({ prefix: 'conformance/life' });
check('listClients', same(listed.clients.map(c => c.clientId), ['conformance/lifecycle']), listed);
await expectError('listClients with a bad token', () => admin.listClients({ continuationToken: '!!!' }), 400, 'InputError', 'listClients',
  m => m.startsWith('Invalid continuation token\n'));
check('deleteClient', (await fails(() => admin.deleteClient('conformance/lifecycle'))).statusCode === 200, null);
await expectError('client after delete', () => admin.client('conformance/lifecycle'), 404, 'ResourceNotFound', 'client', m => m.startsWith('Client not found\n'));

// --- Role life cycle and expansion.
const roleBody = { description: 'conformance role', scopes: ['queue:z', 'auth:sentry:from-role', 'auth:sentry:*'] };
const role = await admin.createRole('conformance-role', roleBody);
check('createRole: scopes sorted, expandedScopes from assume:<roleId>', same(role.scopes, ['auth:sentry:*', 'auth:sentry:from-role', 'queue:z']) &&
  same(role.expandedScopes, ['assume:conformance-role', 'auth:sentry:*', 'queue:z']), role);
check('createRole again, same body', (await fails(() => admin.createRole('conformance-role', roleBody))).statusCode === 200, null);
await expectError('createRole again, other body', () => admin.createRole('conformance-role', { ...roleBody, description: 'x' }), 409, 'RequestConflict', 'createRole',
  m => m.startsWith("Role with roleId 'conformance-role' already exists\n"));
check('role', (await admin.role('conformance-role')).roleId === 'conformance-role', null);
check('updateRole', (await admin.updateRole('conformance-role', { ...roleBody, description: 'updated' })).description === 'updated', null);
await expectError('updateRole missing', () => admin.updateRole('conformance-none', roleBody), 404, 'ResourceNotFound', 'updateRole',
  m => m.startsWith("Role with roleId 'conformance-none' not found\n"));
check('listRoles', (await admin.listRoles()).some(r => r.roleId === 'conformance-role'), null);
check('listRoles2', (await admin.listRoles2()).roles.some(r => r.roleId === 'conformance-role'), null);
check('listRoleIds', (await admin.listRoleIds()).roleIds.includes('conformance-role'), null);
await expectError('listRoles2 with a bad token', () => admin.listRoles2({ continuationToken: '!!!' }), 400, 'InputError', 'listRoles2',
  m => m.startsWith('Invalid continuationToken\n'));
const expanded = await admin.expandScopes({ scopes: ['queue:b', 'assume:conformance-role', 'auth:sentry:x', 'queue:a'] });
check('expandScopes sorted and normalized', same(expanded.scopes, ['assume:conformance-role', 'auth:sentry:*', 'queue:a', 'queue:b', 'queue:z']), expanded);
await expectError('expandScopes with a repeated scope', () => admin.expandScopes({ scopes: ['a', 'a'] }), 400, 'InputValidationError', 'expandScopes',
  m => m.includes('\nSchema Validation Failed!\n'));
check('deleteRole', (await fails(() => admin.deleteRole('conformance-role'))).statusCode === 200, null);
await expectError('role after delete', () => admin.role('conformance-role'), 404, 'ResourceNotFound', 'role', m => m.startsWith('Role not found\n'));

// --- Payload hash: the client library sends none; the hawk library it
// signs with can.
const hashUrl = apiUrl(rootUrl, '/scopes/expand');
const payload = JSON.stringify({ scopes: ['a'] });
const signed = hawk.client.header(hashUrl, 'POST', { credentials: hawkCreds(clients.admin), payload, contentType: 'application/json' });
const goodHash = await raw(hashUrl, { method: 'POST', body: payload, authorization: signed.header, contentType: 'application/json' });
check('payload hash that matches: 200', goodHash.status === 200, goodHash.json);
const signed2 = hawk.client.header(hashUrl, 'POST', { credentials: hawkCreds(clients.admin), payload, contentType: 'application/json' });
const badHash = await raw(hashUrl, { method: 'POST', body: JSON.stringify({ scopes: ['b'] }), authorization: signed2.header, contentType: 'application/json' });
check('payload hash that does not match: 401', badHash.status === 401 && badHash.json.code === 'AuthenticationFailed' &&
  badHash.json.message.startsWith('Invalid payload hash: {{hash}}\nComputed payload hash: '), badHash.json);

// --- Clock skew: the service's clock is skewMs ahead of ours.
const skewed = new taskcluster.Auth({ rootUrl: skewedRootUrl, credentials: clients.admin, retries: 0 });
const stale = await fails(() => skewed.currentScopes());
check('skewed service: Stale timestamp', stale.statusCode === 401 && stale.message.startsWith('Unauthorized: Stale timestamp\n'), stale.message);
const pingRes = await raw(apiUrl(skewedRootUrl, '/ping'));
const serverTime = Date.parse(pingRes.headers.get('date'));
check('Date header follows the service clock', Math.abs(serverTime - Date.now() - skewMs) < 5e3, pingRes.headers.get('date'));
const offset = serverTime - Date.now();
const curUrl = apiUrl(skewedRootUrl, '/scopes/current');
const adjusted = hawk.client.header(curUrl, 'GET', { credentials: hawkCreds(clients.admin), localtimeOffsetMsec: offset });
const adjustedRes = await raw(curUrl, { authorization: adjusted.header });
check('localtimeOffsetMsec from the Date header: 200', adjustedRes.status === 200, adjustedRes.json);

} catch (err) {
  // A call that should have worked threw: report it as a failed check.
  check('script ran to the end', false, String((err && err.stack) || err));
}

process.stdout.write(JSON.stringify(results));
