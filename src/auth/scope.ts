// Scope (RFC 6749 §3.3) and resource indicator (RFC 8707) checks shared by the grants.
import { resourceError } from '../config/formats.js';
import { invalidRequest, invalidScope, invalidTarget } from '../core/errors.js';
import type { FormParams } from '../core/http.js';
import type { Client } from './clients.js';

// scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/**
 * RFC 6749 §3.3: `scope = scope-token *( SP scope-token )`. The tokens of a scope value, each
 * once, in the order given; invalid_scope when the value is not of that form (a space before,
 * after or between the tokens twice, only spaces, a character no scope-token holds). Every
 * place a scope is requested reads it here. An empty `scope=` never gets here: a parameter
 * without a value counts as omitted (§3.1, FormParams.get).
 */
export function parseScope(value: string): string[] {
  const unique: string[] = [];
  for (const s of value.split(' ')) {
    if (s === '') throw invalidScope('malformed scope: scope tokens are separated by single spaces, with none before the first or after the last');
    if (!SCOPE_TOKEN.test(s)) throw invalidScope(`malformed scope "${s}"`);
    if (!unique.includes(s)) unique.push(s);
  }
  return unique;
}

/** Requested scopes ⊆ the client's; none requested → the client's defaults. */
export function grantedScopes(client: Client, requested: string | undefined): string[] {
  if (requested === undefined) return client.default_scopes;
  const scope = parseScope(requested);
  for (const s of scope) {
    if (!client.scopeSet.has(s)) throw invalidScope(`scope "${s}" is not allowed for this client`);
  }
  return scope;
}

/** RFC 8707 §2: absolute URIs without fragment, and only those the client may target. */
export function requestedResources(client: Client, params: FormParams): string[] {
  const resources = params.all('resource');
  for (const r of resources) {
    // a configured audience was checked when the client was prepared: no URL parsing per request
    if (client.resourceSet?.has(r)) continue;
    const problem = resourceError(r);
    if (problem !== undefined) throw invalidTarget(problem);
    if (client.resourceSet !== null) throw invalidTarget(`resource "${r}" is not allowed for this client`);
  }
  if (resources.length > 1 && new Set(resources).size !== resources.length) throw invalidRequest('parameter "resource" repeats a value');
  return resources;
}

/** Longest logical audience name accepted. */
const MAX_AUDIENCE_LENGTH = 256;

/**
 * `audience` (logical service names, RFC 8693 §2.1) and `resource` (absolute URIs, RFC 8707),
 * both repeatable, at token exchange and client_credentials: each must be one the client may
 * target (its `audiences`; none configured: any). Together they become the token's `aud`.
 */
export function requestedTargets(client: Client, params: FormParams): string[] {
  const audiences = params.all('audience');
  for (const a of audiences) {
    if (a.length > MAX_AUDIENCE_LENGTH || /[\s\x00-\x1f\x7f]/.test(a)) throw invalidTarget('audience is malformed');
    if (client.audiences !== null && !client.audiences.includes(a)) throw invalidTarget(`audience "${a}" is not allowed for this client`);
  }
  if (new Set(audiences).size !== audiences.length) throw invalidRequest('parameter "audience" repeats a value');
  const targets = [...audiences];
  for (const r of requestedResources(client, params)) if (!targets.includes(r)) targets.push(r);
  return targets;
}

/**
 * RFC 8707 §2.2 at the token endpoint for a grant whose authorization request named resources
 * (`bound`: the code's, then its refresh tokens'): each `resource` must be one of them, and none
 * asks for all of them. Nothing bound: any the client may target, as requestedResources.
 */
export function resourcesWithin(client: Client, params: FormParams, bound: readonly string[]): string[] {
  if (bound.length === 0) return requestedResources(client, params);
  const requested = params.all('resource');
  for (const r of requested) {
    if (!bound.includes(r)) throw invalidTarget(`resource "${r}" was not requested in the authorization request`);
  }
  if (requested.length > 1 && new Set(requested).size !== requested.length) throw invalidRequest('parameter "resource" repeats a value');
  const resources = requested.length > 0 ? requested : [...bound];
  // the client's audiences may have been narrowed since the authorization
  for (const r of resources) {
    if (client.resourceSet !== null && !client.resourceSet.has(r)) throw invalidTarget(`resource "${r}" is not allowed for this client`);
  }
  return resources;
}
