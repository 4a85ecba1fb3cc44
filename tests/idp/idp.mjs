// A real OpenID Connect provider (oidc-provider, a certified implementation)
// for Rapport's sign-in tests. Listens on 127.0.0.1 with ports chosen at run
// time and prints one JSON line: {"issuer": ..., "control": ...}.
//
// The control port lets a test do what an identity provider's operator (or
// an attacker) would: mint tokens with the provider's own keys but chosen
// claims (expired, another audience, another issuer), with a key it never
// published, with `alg: none`; and rotate the signing key.
//
// Usage: node idp.mjs <audience> [<redirect_uri>]

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';

const [audience = 'rapport', initialRedirect = 'http://127.0.0.1/callback'] = process.argv.slice(2);
// The gateway's callback; a test sets it once the gateway has its port.
let redirectUri = initialRedirect;
export const CLIENT_ID = 'rapport-gateway';
export const CLIENT_SECRET = 'rapport-test-secret';

async function newKey() {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  jwk.kid = randomUUID();
  jwk.alg = 'RS256';
  jwk.use = 'sig';
  return { jwk, privateKey, pem: await exportSPKI(publicKey) };
}

// Published keys, newest first; a rogue key is never published.
let keys = [await newKey()];
const rogue = await newKey();

// Who signs in through the browser flow: any login name is a user of
// tenant acme; ada is its admin, everyone else a rep.
function accountClaims(sub) {
  return { sub, tenant: 'acme', roles: [sub === 'ada' ? 'admin' : 'rep'], teams: ['sales'] };
}

const server = http.createServer((req, res) => current.callback()(req, res));
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const issuer = `http://127.0.0.1:${server.address().port}`;

function provider() {
  const p = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_types: ['authorization_code', 'client_credentials'],
        response_types: ['code'],
        redirect_uris: [redirectUri],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: keys.map((k) => k.jwk) },
    scopes: ['openid', 'rapport'],
    claims: { openid: ['sub'], rapport: ['tenant', 'roles', 'teams'] },
    // ID tokens carry the Rapport claims even when an access token is issued.
    conformIdTokenClaims: false,
    findAccount: async (ctx, sub) => ({
      accountId: sub,
      claims: async () => accountClaims(sub),
    }),
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'rapport',
          audience,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    // A partner system's token: the client credentials grant, as tenant acme.
    extraTokenClaims: async () => ({ tenant: 'acme', roles: ['system'], teams: [] }),
    pkce: { required: () => true },
    ttl: { AccessToken: 600, IdToken: 600, AuthorizationCode: 60, Interaction: 600, Session: 600, Grant: 600 },
  });
  p.on('server_error', (ctx, err) => console.error('idp server_error', err));
  return p;
}

let current = provider();

async function mint({ claims = {}, key = 'current', alg = 'RS256', expiresIn = 300 }) {
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: issuer, aud: audience, sub: 'alice', tenant: 'acme', roles: ['rep'], teams: [], iat: now, exp: now + expiresIn, ...claims };
  if (alg === 'none') {
    const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    return `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.`;
  }
  const k = key === 'rogue' ? rogue : key === 'previous' ? keys[keys.length - 1] : keys[0];
  if (alg === 'HS256') {
    // The classic confusion attack: the published public key as an HMAC secret.
    return new SignJWT(payload).setProtectedHeader({ alg, kid: k.jwk.kid, typ: 'JWT' }).sign(new TextEncoder().encode(k.pem));
  }
  return new SignJWT(payload).setProtectedHeader({ alg, kid: k.jwk.kid, typ: 'JWT' }).sign(k.privateKey);
}

const control = http.createServer(async (req, res) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  try {
    const input = body ? JSON.parse(body) : {};
    if (req.method === 'POST' && req.url === '/mint') {
      res.end(JSON.stringify({ token: await mint(input) }));
    } else if (req.method === 'POST' && req.url === '/redirect') {
      redirectUri = input.redirect_uri;
      current = provider();
      res.end('{}');
    } else if (req.method === 'POST' && req.url === '/rotate') {
      // The new key signs from now on; the old one stays published.
      keys = [await newKey(), ...keys];
      current = provider();
      res.end(JSON.stringify({ kid: keys[0].jwk.kid }));
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  } catch (e) {
    res.statusCode = 500;
    res.end(JSON.stringify({ error: String(e) }));
  }
});
await new Promise((ok) => control.listen(0, '127.0.0.1', ok));

console.log(JSON.stringify({ issuer, control: `http://127.0.0.1:${control.address().port}`, client_id: CLIENT_ID, client_secret: CLIENT_SECRET }));
// Stop with the test that started it.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
