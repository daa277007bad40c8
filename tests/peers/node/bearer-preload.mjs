// Preloaded into the MCP conformance suite's `server` run (node --import): adds
// `Authorization: Bearer $AUTHPROOF_BEARER` to every fetch to $AUTHPROOF_MCP_URL, so that the
// suite's unauthenticated client passes authproof's guard with a valid token. Nothing else
// about the suite's requests changes.
const token = process.env.AUTHPROOF_BEARER;
const target = process.env.AUTHPROOF_MCP_URL;
if (!token || !target) throw new Error('AUTHPROOF_BEARER and AUTHPROOF_MCP_URL must be set');
const origin = new URL(target).origin;
const plainFetch = globalThis.fetch;

globalThis.fetch = function fetchWithBearer(input, init = {}) {
  const url = input instanceof Request ? input.url : String(input);
  if (new URL(url).origin !== origin) return plainFetch(input, init);
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  headers.set('authorization', `Bearer ${token}`);
  return plainFetch(input, { ...init, headers });
};
