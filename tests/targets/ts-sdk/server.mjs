// The MCP TypeScript SDK's own authorization server in front of authproof's mock IdP: a
// third-party target for tests/third_party.rs (and for `authproof test --target` by hand).
//
//     node server.mjs --idp http://127.0.0.1:9000 [--port 0]
//
// Binds 127.0.0.1 (port 0 by default: the OS picks one) and prints one line
// `listening on http://127.0.0.1:PORT` on stdout once it accepts connections.
//
// `mcpAuthRouter` with the SDK's `ProxyOAuthServerProvider`, configured as its documentation
// shows: registration, authorization, tokens and revocation pass through to the IdP (found by
// OIDC discovery); there is no consent page and no redirect allow-list. The SDK's default rate
// limits are turned off, since the suite registers hundreds of clients from one address.
// Registered clients are kept in memory (the provider's `getClient` needs a store). Bearer
// tokens on /mcp are checked by RFC 7662 introspection at the IdP, as `upstream-app`.

import http from 'node:http';
import { parseArgs } from 'node:util';
import express from 'express';
import { mcpAuthRouter, getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { ProxyOAuthServerProvider } from '@modelcontextprotocol/sdk/server/auth/providers/proxyProvider.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const UPSTREAM_CLIENT_ID = 'upstream-app';
const UPSTREAM_CLIENT_SECRET = 'upstream-s3cret';

const { values: args } = parseArgs({
  options: { idp: { type: 'string' }, port: { type: 'string', default: '0' } },
});
if (!args.idp) {
  console.error('usage: node server.mjs --idp URL [--port N]');
  process.exit(2);
}

async function discover(idp) {
  const url = `${idp.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return res.json();
}

// RFC 7662 introspection at the IdP, authenticated as the upstream client.
function introspector(endpoint) {
  const basic = Buffer.from(`${UPSTREAM_CLIENT_ID}:${UPSTREAM_CLIENT_SECRET}`).toString('base64');
  return async (token) => {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${basic}` },
      body: new URLSearchParams({ token }).toString(),
    });
    const body = res.ok ? await res.json() : { active: false };
    if (!body.active) throw new InvalidTokenError('Token is not active');
    return {
      token,
      clientId: body.client_id,
      scopes: body.scope ? body.scope.split(' ') : [],
      expiresAt: body.exp,
    };
  };
}

// The scopes the server offers (its metadata's scopes_supported; profile.yaml `scopes`).
const SCOPES = ['openid', 'email'];

function buildApp(base, disc) {
  const clients = new Map();
  const provider = new ProxyOAuthServerProvider({
    endpoints: {
      authorizationUrl: disc.authorization_endpoint,
      tokenUrl: disc.token_endpoint,
      revocationUrl: disc.revocation_endpoint,
      registrationUrl: disc.registration_endpoint,
    },
    verifyAccessToken: introspector(disc.introspection_endpoint),
    getClient: async (clientId) => clients.get(clientId),
  });
  // Remember what the IdP registered, so the SDK's handlers can look the client up.
  const store = provider.clientsStore;
  const register = store.registerClient;
  Object.defineProperty(provider, 'clientsStore', {
    value: {
      getClient: store.getClient,
      registerClient: async (client) => {
        const info = await register(client);
        clients.set(info.client_id, info);
        return info;
      },
    },
  });

  const issuerUrl = new URL(base);
  const mcpUrl = new URL('/mcp', base);
  const app = express();
  app.use(
    mcpAuthRouter({
      provider,
      issuerUrl,
      resourceServerUrl: mcpUrl,
      scopesSupported: SCOPES,
      authorizationOptions: { rateLimit: false },
      clientRegistrationOptions: { rateLimit: false },
      tokenOptions: { rateLimit: false },
      revocationOptions: { rateLimit: false },
    }),
  );

  const guard = requireBearerAuth({
    verifier: provider,
    resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(mcpUrl),
  });
  app.all('/mcp', guard, express.json(), async (req, res) => {
    // Stateless: one server and transport per request.
    const server = new McpServer({ name: 'authproof-ts-sdk-target', version: '1.0.0' });
    server.registerTool(
      'echo',
      { description: 'Return the text unchanged.', inputSchema: { text: z.string() } },
      async ({ text }) => ({ content: [{ type: 'text', text }] }),
    );
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  return app;
}

const disc = await discover(args.idp);
const server = http.createServer();
server.listen(Number(args.port), '127.0.0.1', () => {
  const { port } = server.address();
  const base = `http://127.0.0.1:${port}`;
  server.on('request', buildApp(base, disc));
  console.log(`listening on ${base}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
