// Every migration, in order. Listed statically (no directory scanning) so they are bundled
// with the build and `drawbridge migrate` needs nothing but the compiled code.
// Names sort in application order: append `NNNN-name` entries, never rename or remove one.

import type { Migration, MigrationProvider } from 'kysely';
import * as initial from './0001-initial.js';
import * as gateway from './0002-gateway.js';
import * as userMfa from './0003-user-mfa.js';
import * as tokensGrantIndex from './0004-tokens-grant-index.js';
import * as refreshRotation from './0005-refresh-rotation.js';
import * as codeFlow from './0006-code-flow.js';
import * as clientLogout from './0007-client-logout.js';
import * as clientConsentMfa from './0008-client-consent-mfa.js';
import * as gatewaySessions from './0009-gateway-sessions.js';
import * as codeRedirectUriGiven from './0010-code-redirect-uri-given.js';
import * as clientRequirePkce from './0011-client-require-pkce.js';
import * as signingKeysPerAlg from './0012-signing-keys-per-alg.js';
import * as consumerCustomIdTags from './0013-consumer-custom-id-tags.js';
import * as signingKeysNext from './0014-signing-keys-next.js';
import * as tokensExchangedFrom from './0015-tokens-exchanged-from.js';
import * as clientRequirePar from './0016-client-require-par.js';
import * as usedCodes from './0017-used-codes.js';
import * as backchannelLogouts from './0018-backchannel-logouts.js';
import * as clientRequestObjectAlg from './0019-client-request-object-alg.js';
import * as clientRequireSignedRequestObject from './0020-client-require-signed-request-object.js';

const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-gateway': gateway,
  '0003-user-mfa': userMfa,
  '0004-tokens-grant-index': tokensGrantIndex,
  '0005-refresh-rotation': refreshRotation,
  '0006-code-flow': codeFlow,
  '0007-client-logout': clientLogout,
  '0008-client-consent-mfa': clientConsentMfa,
  '0009-gateway-sessions': gatewaySessions,
  '0010-code-redirect-uri-given': codeRedirectUriGiven,
  '0011-client-require-pkce': clientRequirePkce,
  '0012-signing-keys-per-alg': signingKeysPerAlg,
  '0013-consumer-custom-id-tags': consumerCustomIdTags,
  '0014-signing-keys-next': signingKeysNext,
  '0015-tokens-exchanged-from': tokensExchangedFrom,
  '0016-client-require-par': clientRequirePar,
  '0017-used-codes': usedCodes,
  '0018-backchannel-logouts': backchannelLogouts,
  '0019-client-request-object-alg': clientRequestObjectAlg,
  '0020-client-require-signed-request-object': clientRequireSignedRequestObject,
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
