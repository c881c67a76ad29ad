// Child entry point of the phantom-token benchmark: ONE role of Drawbridge (the auth server
// or a gateway), started through its public code as `drawbridge start --only ROLE` does
// (validateConfig + run with `only`), logging silenced. The orchestrator writes one config
// file for every child (shared SQLite file, shared Redis); this child only sets its own
// listen address. Prints the ready line with its URL, the issuer and the issuer's JWKS.
//   node dist/bench/phantom/node.js PORT auth|gateway CONFIG_JSON_FILE
import { readFileSync } from 'node:fs';
import { run } from '../../src/cli/run.js';
import { validateConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import { closeOnSignal, portFromArgv } from '../common.js';
import { announce } from '../gateway/common.js';

const port = portFromArgv();
const role = process.argv[3];
if (role !== 'auth' && role !== 'gateway') {
  process.stderr.write(`usage: node ${process.argv[1]} PORT auth|gateway CONFIG_JSON_FILE\n`);
  process.exit(2);
}
const raw = JSON.parse(readFileSync(process.argv[4] ?? '', 'utf8')) as Record<string, Record<string, unknown>>;
raw[role]!.listen = `127.0.0.1:${port}`;
const config = validateConfig(raw);
const version = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const running = await run(config, { only: role, logger: silentLogger() });
closeOnSignal(() => running.close());
announce({
  server: `drawbridge-${role}`,
  version,
  url: role === 'auth' ? running.auth!.listener.url : running.gateway!.url,
  issuer: config.issuer,
  jwks: running.keyring.jwks(),
});
