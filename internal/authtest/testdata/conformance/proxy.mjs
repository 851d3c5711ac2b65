// Drives the official taskcluster-client through tc-credd's proxy, the way
// a task uses taskcluster-proxy: the proxy's URL as the root URL, and no
// credentials. The Go test (cmd/tc-credd/proxy_test.go) passes the proxy's
// URL on stdin and checks what this prints: one JSON object with what each
// call returned, or the error it threw.
import taskcluster from 'taskcluster-client';

const input = JSON.parse(await new Promise(resolve => {
  let text = '';
  process.stdin.on('data', d => { text += d; });
  process.stdin.on('end', () => resolve(text));
}));
const auth = new taskcluster.Auth({ rootUrl: input.proxyUrl, retries: 0 });

const out = {};
const run = async (name, fn) => {
  try {
    out[name] = await fn();
  } catch (err) {
    out[name] = { error: { statusCode: err.statusCode, code: err.code, message: String(err.message).split('\n')[0] } };
  }
};
await run('currentScopes', () => auth.currentScopes());
await run('expandScopes', () => auth.expandScopes({ scopes: input.expand }));
await run('awsS3Credentials', () => auth.awsS3Credentials('read-only', input.bucket, input.prefix));
await run('sentryDSN', () => auth.sentryDSN(input.sentryProject));
process.stdout.write(JSON.stringify(out));
