// Plugin factories of this stage, by name (see src/gateway/plugins.ts).
import type { PluginFactory } from '../types.js';
import { basicAuth } from './basic-auth.js';
import { hmacAuth } from './hmac-auth.js';
import { jwt } from './jwt.js';
import { keyAuth } from './key-auth.js';
import { oauth2Introspection } from './oauth2-introspection.js';
import { oidcLogin } from './oidc-login.js';
import { session } from './session.js';

export const AUTHN_PLUGINS: readonly PluginFactory[] = [keyAuth, basicAuth, hmacAuth, jwt, oauth2Introspection, session, oidcLogin];
