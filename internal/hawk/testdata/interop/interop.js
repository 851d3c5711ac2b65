'use strict';
// Reads a JSON array of operations on stdin and writes a JSON array of
// results: headers and bewits made by the hawk package, and its verdicts on
// headers and bewits made by tc-credd. The server options match the
// Taskcluster Auth service's (timestampSkewSec 15 min, sha256).
const Hawk = require('hawk');

const creds = (op) => ({ id: op.id, key: op.key, algorithm: 'sha256' });

async function run(op) {
  switch (op.op) {
    case 'header': {
      const { header } = Hawk.client.header(op.url, op.method, {
        credentials: creds(op),
        ext: op.ext || undefined,
        localtimeOffsetMsec: op.offsetMs || 0,
      });
      return { header };
    }
    case 'bewit': {
      const bewit = Hawk.client.getBewit(op.url, {
        credentials: creds(op),
        ttlSec: op.ttlSec,
        ext: op.ext || undefined,
        localtimeOffsetMsec: op.offsetMs || 0,
      });
      return { url: op.url + (op.url.includes('?') ? '&' : '?') + 'bewit=' + bewit };
    }
    case 'authenticate':
    case 'authenticateBewit': {
      const req = { method: op.method, url: op.url, headers: { host: op.host } };
      if (op.authorization) {
        req.headers.authorization = op.authorization;
      }
      const lookup = async (id) => (id === op.id ? creds(op) : null);
      try {
        const res = op.op === 'authenticate'
          ? await Hawk.server.authenticate(req, lookup, { timestampSkewSec: 15 * 60 })
          : await Hawk.server.authenticateBewit(req, lookup, {});
        const attrs = res.artifacts || res.attributes;
        return { ok: true, id: res.credentials.id, ext: attrs.ext || '' };
      } catch (err) {
        return { ok: false, error: err.message };
      }
    }
    default:
      throw new Error('unknown op ' + op.op);
  }
}

let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', async () => {
  const out = [];
  for (const op of JSON.parse(input)) {
    out.push(await run(op));
  }
  process.stdout.write(JSON.stringify(out));
});
