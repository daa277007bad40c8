// The MCP TypeScript SDK client against the proxy (tests/peer_ts_sdk_client.rs).
//
// Usage: node sdk-client.mjs MCP_URL [CLIENT_METADATA_URL]
// Discovery from the 401, DCR (or, with CLIENT_METADATA_URL, the client ID metadata document
// at that https URL as the client_id), PKCE; the browser leg is asked of the test (line protocol);
// finishAuth (code exchange), initialize, tools/list, tools/call; then the test expires the
// access token and the SDK must refresh on its own on the next call.
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { ask, check, finish, log } from './lines.mjs';

const mcpUrl = new URL(process.argv[2]);
const metadataUrl = process.argv[3];
const REDIRECT = 'http://127.0.0.1:8975/callback';

/** An in-memory OAuthClientProvider that hands the browser leg to the test. */
class Provider {
  constructor() {
    this.saved = { client: undefined, tokens: undefined, verifier: undefined };
    this.pendingAuthorization = undefined;
    this.lastState = undefined;
    this.tokenHistory = [];
  }
  get redirectUrl() { return REDIRECT; }
  get clientMetadataUrl() { return metadataUrl; }
  get clientMetadata() {
    return {
      client_name: 'MCP TypeScript SDK peer',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() {
    this.lastState = randomBytes(16).toString('hex');
    return this.lastState;
  }
  clientInformation() { return this.saved.client; }
  saveClientInformation(info) { this.saved.client = info; }
  tokens() { return this.saved.tokens; }
  saveTokens(tokens) {
    this.saved.tokens = tokens;
    this.tokenHistory.push(tokens);
  }
  redirectToAuthorization(url) { this.pendingAuthorization = url; }
  saveCodeVerifier(verifier) { this.saved.verifier = verifier; }
  codeVerifier() {
    if (!this.saved.verifier) throw new Error('no code verifier saved');
    return this.saved.verifier;
  }
}

const provider = new Provider();

async function connect() {
  const client = new Client({ name: 'authproof-ts-peer', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  await client.connect(transport);
  return client;
}

// 1. Unauthenticated: the SDK discovers, registers and asks for the browser.
const first = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
let unauthorized = false;
try {
  await new Client({ name: 'authproof-ts-peer', version: '1.0.0' }).connect(first);
} catch (e) {
  if (!(e instanceof UnauthorizedError)) throw e;
  unauthorized = true;
}
check(unauthorized, 'the first connect must fail with UnauthorizedError');
if (metadataUrl) {
  check(provider.saved.client?.client_id === metadataUrl, 'the SDK used the metadata URL as its client_id');
} else {
  check(provider.saved.client?.client_id, 'the SDK registered a client (DCR)');
}
const authorizeUrl = provider.pendingAuthorization;
check(authorizeUrl, 'the SDK asked to open the authorization URL');
log('authorize:', authorizeUrl.origin + authorizeUrl.pathname);

// 2. The browser leg, by the test.
const answer = await ask({ authorize: authorizeUrl.href, redirect_uri: REDIRECT });
if (answer.error) throw new Error(answer.error);
const callback = new URL(answer.redirect);
check(callback.searchParams.get('state') === provider.lastState, 'state round-trips');
const code = callback.searchParams.get('code');
check(code, 'the redirect carries a code');

// 3. The code exchange, then a fresh connection with the token.
await first.finishAuth(code);
check(provider.saved.tokens?.access_token, 'tokens saved after finishAuth');
const firstTokens = provider.saved.tokens;
const client = await connect();
const tools = await client.listTools();
const names = tools.tools.map((t) => t.name).sort();
const sum = await client.callTool({ name: 'add', arguments: { a: 19, b: 23 } });
const identity = await client.callTool({ name: 'identity', arguments: {} });

// 4. The access token expires at the proxy; the SDK must refresh by itself on the 401.
await ask({ expire: true });
const afterExpiry = await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
const refreshedTokens = provider.saved.tokens;
await client.close();

finish({
  client_id: provider.saved.client.client_id,
  authorize_params: Object.fromEntries(authorizeUrl.searchParams),
  first_tokens: firstTokens,
  refreshed_tokens: refreshedTokens,
  token_saves: provider.tokenHistory.length,
  server_name: client.getServerVersion()?.name ?? null,
  tools: names,
  sum: sum.content?.[0]?.text ?? null,
  identity: identity.structuredContent ?? null,
  after_expiry: afterExpiry.content?.[0]?.text ?? null,
});
