// `ip-restriction` (intercept stage), with Kong's keys: `allow` and/or `deny` lists of IPs
// and CIDRs (IPv4 and IPv6). Only `allow`: everyone else is refused. Only `deny`: everyone
// else gets in. Both: `deny` carves addresses out of the allowed ranges. The address is the
// client's as the gateway resolves it (gr.clientIp: the peer, or the first untrusted hop of
// X-Forwarded-For when the peer is one of `gateway.trusted_proxies`), so a client cannot
// talk its way in with a header of its own.
//
// It runs before every other plugin of the route (compile.ts), CORS preflights and
// authentication included: a refused address learns nothing about credentials, and costs
// the gateway one native lookup per list.
import { ConfigError, int, keyPath, list, object, str } from '../../config/schema.js';
import { ipOrCidr } from '../../config/formats.js';
import { addressMatcher } from '../addresses.js';
import { GatewayError } from '../errors.js';
import type { GatewayRequest, Interceptor, PluginFactory } from '../types.js';

interface IpRestrictionConfig {
  allow?: string[];
  deny?: string[];
  status: number;
  message: string;
}

export const ipRestrictionConfigSchema = object<IpRestrictionConfig>(
  {
    allow: list(ipOrCidr, { min: 1 }).optional().doc('IPs and CIDRs let in; every other address is refused.'),
    deny: list(ipOrCidr, { min: 1 }).optional().doc('IPs and CIDRs refused (also inside `allow` ranges); with no `allow`, every other address gets in.'),
    status: int(403, 404)
      .default(403)
      .doc('Status of a refusal: `403`, or `404` to hide that the route exists.'),
    message: str().default('Your IP address is not allowed').doc('`error_description` of a refusal.'),
  },
  function checkIpRestriction(value, path) {
    if (value.allow === undefined && value.deny === undefined) {
      throw new ConfigError(keyPath(path, 'allow'), 'required unless deny is set', { expected: 'allow, deny or both' });
    }
  },
);

export function createIpRestriction(config: Record<string, unknown>, path: string): Interceptor {
  const settings = ipRestrictionConfigSchema.parse(config, path);
  const allowed = settings.allow === undefined ? undefined : addressMatcher(settings.allow);
  const denied = settings.deny === undefined ? undefined : addressMatcher(settings.deny);
  const { status, message } = settings;
  const code = status === 404 ? 'not_found' : 'forbidden';
  return {
    name: 'ip-restriction',
    early: true,
    intercept: function restrictIp(gr: GatewayRequest): boolean {
      const ip = gr.clientIp;
      if ((denied !== undefined && denied(ip)) || (allowed !== undefined && !allowed(ip))) {
        throw new GatewayError(code, status, message, { reason: 'ip_restricted' });
      }
      return false;
    },
  };
}

export const ipRestrictionPlugin: PluginFactory = {
  name: 'ip-restriction',
  create: function createIpRestrictionPlugin(config, _deps, path) {
    return { stage: 'intercept', impl: createIpRestriction(config, path) };
  },
};
