// oidc-provider (OpenID Certified) as the upstream IdP of `authproof serve`, for
// tests/peer_oidc_provider.rs. A small interaction app finishes every login and consent
// headlessly as the user `alice`. A journal of what each endpoint received is served at
// GET /__journal, so the test can see the client authentication, PKCE, nonce and refresh.
//
// Environment: PORT (the issuer is http://127.0.0.1:PORT), CLIENTS (a JSON array of
// oidc-provider client metadata), ACCESS_TOKEN_TTL (seconds, default 3600).
// Prints "listening <issuer>" on stdout once ready.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 0);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.CLIENTS || '[]');
const accessTtl = Number(process.env.ACCESS_TOKEN_TTL || 3600);
const journal = [];

const provider = new Provider(issuer, {
  clients,
  cookies: { keys: ['authproof-peer-test-cookie-key'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, email: `${sub}@example.com`, email_verified: true }),
  }),
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  pkce: { required: () => true },
  // A refresh token for every client allowed the grant (not only with offline_access).
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: { AccessToken: accessTtl, IdToken: 3600, RefreshToken: 86400, Interaction: 600, Session: 3600, Grant: 86400 },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
});
// Plain http on loopback: no proxy in front.
provider.proxy = false;

// The journal: what each protocol endpoint received (after oidc-provider parsed it).
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/__journal' || ctx.path.startsWith('/interaction/')) return;
  const params = ctx.oidc?.params ? { ...ctx.oidc.params } : {};
  for (const k of Object.keys(params)) if (params[k] === undefined) delete params[k];
  const auth = ctx.get('authorization');
  journal.push({
    method: ctx.method,
    path: ctx.path,
    status: ctx.status,
    params,
    authorization: auth ? auth.split(' ')[0] : null,
    client_secret_in_body: Boolean(ctx.oidc?.body?.client_secret),
  });
});

provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/__journal') {
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(journal);
    return;
  }
  const m = ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (!m) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session } = details;
  let result;
  if (prompt.name === 'login') {
    result = { login: { accountId: 'alice' } };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
});

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
