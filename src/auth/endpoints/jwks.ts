// JWKS (RFC 7517): every published key, current first.
import { sendJson } from '../../core/http.js';
import type { Endpoint } from './types.js';

export const jwksEndpoint: Endpoint = {
  methods: ['GET', 'HEAD'],
  handle: async function jwks(ctx, _req, res) {
    // short max-age: a rotated key must reach verifiers quickly. Readable cross-origin like the
    // discovery document that points here: browser RPs (the implicit flow) verify ID tokens with it
    sendJson(res, 200, ctx.keyring.jwks(), { 'cache-control': 'public, max-age=30', 'access-control-allow-origin': '*' });
  },
};
