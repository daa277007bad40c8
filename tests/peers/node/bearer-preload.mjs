// Preloaded into the MCP conformance suite's `server` run (node --import): adds
// `Authorization: Bearer $AUTHPROOF_BEARER` to every request to $AUTHPROOF_MCP_URL's origin,
// so that the suite's unauthenticated client passes authproof's guard with a valid token.
// Nothing else about the suite's requests changes (Host and Origin stay as the suite sets
// them, which is what `dns-rebinding-protection` tests).
//
// The suite sends requests two ways: the SDK client uses fetch, and some scenarios (such as
// `dns-rebinding-protection`) call undici's `request` directly. Both go through undici's
// global dispatcher, so one interceptor there covers both; it replaces any Authorization
// header rather than adding a second one.
import { Agent, setGlobalDispatcher } from 'undici';

const token = process.env.AUTHPROOF_BEARER;
const target = process.env.AUTHPROOF_MCP_URL;
if (!token || !target) throw new Error('AUTHPROOF_BEARER and AUTHPROOF_MCP_URL must be set');
const origin = new URL(target).origin;

/** Headers in any form undici accepts, with authorization replaced by ours. */
function withBearer(headers) {
  const out = [];
  const push = (k, v) => {
    if (String(k).toLowerCase() !== 'authorization') out.push(String(k), String(v));
  };
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) push(headers[i], headers[i + 1]);
  } else if (headers && typeof headers[Symbol.iterator] === 'function') {
    for (const [k, v] of headers) push(k, v);
  } else if (headers) {
    for (const [k, v] of Object.entries(headers)) {
      if (Array.isArray(v)) v.forEach((x) => push(k, x));
      else if (v !== undefined) push(k, v);
    }
  }
  out.push('authorization', `Bearer ${token}`);
  return out;
}

const bearer = (dispatch) => (opts, handler) => {
  const to = opts.origin ? new URL(String(opts.origin)).origin : undefined;
  if (to !== origin) return dispatch(opts, handler);
  return dispatch({ ...opts, headers: withBearer(opts.headers) }, handler);
};

setGlobalDispatcher(new Agent().compose(bearer));
