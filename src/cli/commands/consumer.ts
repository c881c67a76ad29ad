// `drawbridge consumer …`: gateway consumers and their credentials, straight in storage
// (like `client`). Generated keys and secrets are printed once; only digests, argon2id
// hashes or sealed values are kept. With `redis:` configured, running gateways are told at
// once (credentials.changed); without it they notice within their cache TTL (30 s).
import { randomUUID } from 'node:crypto';
import { Option, type Command } from 'commander';
import { assertProductionSecret } from '../../config/index.js';
import type { Config } from '../../config/types.js';
import { systemClock } from '../../core/clock.js';
import { timeOrderedId, randomToken } from '../../core/crypto-util.js';
import {
  CONSUMER_USERNAME,
  CONSUMER_USERNAME_RULE,
  CREDENTIAL_PLUGINS,
  credentialKeys,
  customIdProblem,
  groupsProblem,
  tagsProblem,
  uniqueTags,
  CredentialInputError,
  describeCredential,
  prepareCredential,
  prepareCredentialPatch,
} from '../../gateway/credentials.js';
import type { ConsumerRecord, CredentialPlugin, Storage } from '../../storage/types.js';
import { collect, print, printTable, readConfig, UsageError, withStorage } from '../shared.js';

const CONFIG_OPTION = ['-c, --config <file>', 'config file; default $DRAWBRIDGE_CONFIG'] as const;

function pluginOption(): Option {
  return new Option('--plugin <plugin>', 'credential type').choices([...CREDENTIAL_PLUGINS]).makeOptionMandatory();
}

export function registerConsumerCommands(program: Command): void {
  const consumer = program.command('consumer').description('gateway consumers and their credentials: create, list, delete; credential add, list, rotate, delete');
  consumer
    .command('create')
    .description('create a consumer')
    .argument('<username>')
    .option(...CONFIG_OPTION)
    .option('--group <group>', 'group (repeatable)', collect)
    .option('--custom-id <id>', "your own id for the consumer (Kong's custom_id; unique); sent upstream as X-Consumer-Custom-ID")
    .option('--tag <tag>', "tag (repeatable, or comma-separated; Kong's tags: printable ASCII without , or /)", collectTags)
    .option('--json', 'print JSON')
    .action(async function createConsumer(username: string, opts: { config?: string; group?: string[]; customId?: string; tag?: string[]; json?: boolean }) {
      if (!CONSUMER_USERNAME.test(username)) throw new UsageError(`username: ${CONSUMER_USERNAME_RULE}`);
      // the admin API's rules: groups reach upstream comma-joined in X-Consumer-Groups, custom_id as-is in X-Consumer-Custom-ID
      const problem = opts.group === undefined ? undefined : groupsProblem(opts.group);
      if (problem !== undefined) throw new UsageError(`--group: ${problem}`);
      const customIdBad = opts.customId === undefined ? undefined : customIdProblem(opts.customId);
      if (customIdBad !== undefined) throw new UsageError(`--custom-id: ${customIdBad}`);
      const tagsBad = opts.tag === undefined ? undefined : tagsProblem(opts.tag);
      if (tagsBad !== undefined) throw new UsageError(`--tag: ${tagsBad}`);
      const cfg = readConfig(opts);
      refuseConfigConsumer(cfg, username);
      const rec = await withStorage(cfg, async (s) => {
        const now = systemClock.now();
        const created: ConsumerRecord = { id: randomUUID(), username, groups: opts.group ?? [], source: 'cli', created_at: now, updated_at: now };
        if (opts.customId !== undefined) created.custom_id = opts.customId;
        if (opts.tag !== undefined && opts.tag.length > 0) created.tags = uniqueTags(opts.tag);
        if (!(await s.consumers.insert(created))) {
          if (await s.consumers.getByUsername(username)) throw new UsageError(`consumer "${username}" already exists`);
          throw new UsageError(`--custom-id: already used by consumer "${(await s.consumers.getByCustomId(opts.customId ?? ''))?.username ?? '?'}"`);
        }
        return created;
      });
      await announce(cfg, username);
      if (opts.json) return print(JSON.stringify(rec, null, 2));
      print(`created consumer ${rec.username} (id ${rec.id})`);
    });
  consumer
    .command('list')
    .description('list consumers (from the config file, the admin API and the CLI)')
    .option(...CONFIG_OPTION)
    .option('--json', 'print JSON')
    .action(async function listConsumers(opts: { config?: string; json?: boolean }) {
      const cfg = readConfig(opts);
      await withStorage(cfg, async (s) => {
        const rows = await s.consumers.list();
        if (opts.json) return print(JSON.stringify(rows, null, 2));
        const counts = await Promise.all(rows.map((c) => s.credentials.listByConsumer(c.id)));
        printTable(
          rows.map((c, i) => ({
            username: c.username,
            custom_id: c.custom_id ?? '',
            groups: c.groups.join(','),
            tags: (c.tags ?? []).join(','),
            credentials: counts[i]!.length,
            source: c.source,
            id: c.id,
          })),
          ['username', 'custom_id', 'groups', 'tags', 'credentials', 'source', 'id'],
        );
      });
    });
  consumer
    .command('delete')
    .description('delete a consumer and all its credentials')
    .argument('<username>')
    .option(...CONFIG_OPTION)
    .action(async function deleteConsumer(username: string, opts: { config?: string }) {
      const cfg = readConfig(opts);
      refuseConfigConsumer(cfg, username);
      await withStorage(cfg, async (s) => {
        if (!(await s.consumers.delete(username))) throw new UsageError(`no consumer "${username}"`);
      });
      await announce(cfg, username);
      print(`deleted consumer ${username}`);
    });

  const credential = consumer.command('credential').description("a consumer's credentials: add, list, rotate, delete");
  credential
    .command('add')
    .description('add a credential; a generated key, password or secret is printed once')
    .argument('<username>')
    .option(...CONFIG_OPTION)
    .addOption(pluginOption())
    .option('--key <key>', 'key-auth: the key (default: generated)')
    .option('--username <name>', 'basic-auth: the user name')
    .option('--password <password>', 'basic-auth: the password (default: generated)')
    .option('--key-id <id>', 'hmac-auth: the key id')
    .option('--secret <secret>', 'hmac-auth: the shared secret (default: generated)')
    .option('--json', 'print JSON')
    .action(async function addCredential(
      username: string,
      opts: { config?: string; plugin: CredentialPlugin; key?: string; username?: string; password?: string; keyId?: string; secret?: string; json?: boolean },
    ) {
      const cfg = readConfig(opts);
      const keys = credentialKeys(requireSecret(cfg));
      const input: Record<string, unknown> = {};
      const shown: Record<string, string> = {};
      if (opts.plugin === 'key-auth') {
        if (opts.key !== undefined) input.key = opts.key;
      } else if (opts.plugin === 'basic-auth') {
        if (opts.username === undefined) throw new UsageError('--username is required for basic-auth');
        input.username = opts.username;
        input.password = opts.password ?? randomToken(18);
        if (opts.password === undefined) shown.password = input.password as string;
      } else {
        if (opts.keyId === undefined) throw new UsageError('--key-id is required for hmac-auth');
        input.key_id = opts.keyId;
        if (opts.secret !== undefined) input.secret = opts.secret;
      }
      for (const [flag, plugin] of [['key', 'key-auth'], ['username', 'basic-auth'], ['password', 'basic-auth'], ['keyId', 'hmac-auth'], ['secret', 'hmac-auth']] as const) {
        if (opts[flag] !== undefined && opts.plugin !== plugin) throw new UsageError(`--${flag === 'keyId' ? 'key-id' : flag} is for ${plugin}, not ${opts.plugin}`);
      }
      let prepared;
      try {
        prepared = await prepareCredential(opts.plugin, input, keys, { generate: true });
      } catch (err) {
        if (err instanceof CredentialInputError) throw new UsageError(`--${err.field.replace('_', '-')}: ${err.message.slice(err.field.length + 2)}`);
        throw err;
      }
      const view = await withStorage(cfg, async (s) => {
        const owner = await findConsumer(s, username);
        const rec = {
          id: timeOrderedId(),
          consumer_id: owner.id,
          plugin: opts.plugin,
          lookup: prepared.lookup,
          secret_hash: prepared.secret_hash,
          secret_sealed: prepared.secret_sealed,
          source: 'cli' as const,
          created_at: systemClock.now(),
        };
        if (!(await s.credentials.insert(rec))) throw new UsageError(`this ${opts.plugin} credential is already in use`);
        return describeCredential(rec, owner.username);
      });
      await announce(cfg, username);
      // generated values only: what the user typed is not echoed back
      if (opts.plugin === 'key-auth' && opts.key === undefined) shown.key = prepared.once.key!;
      if (opts.plugin === 'hmac-auth' && opts.secret === undefined) shown.secret = prepared.once.secret!;
      if (opts.json) return print(JSON.stringify({ ...view, ...shown }, null, 2));
      print(`added ${opts.plugin} credential ${String(view.id)} to ${username}`);
      for (const [k, v] of Object.entries(shown)) print(`${k}: ${v}`);
      if (Object.keys(shown).length > 0) print('This is shown only now; Drawbridge keeps only a digest, hash or sealed copy.');
    });
  credential
    .command('list')
    .description("list a consumer's credentials (never their secrets)")
    .argument('<username>')
    .option(...CONFIG_OPTION)
    .addOption(new Option('--plugin <plugin>', 'only this credential type').choices([...CREDENTIAL_PLUGINS]))
    .option('--json', 'print JSON')
    .action(async function listCredentials(username: string, opts: { config?: string; plugin?: CredentialPlugin; json?: boolean }) {
      const cfg = readConfig(opts);
      await withStorage(cfg, async (s) => {
        const owner = await findConsumer(s, username);
        const views = (await s.credentials.listByConsumer(owner.id, opts.plugin)).map((c) => describeCredential(c, owner.username));
        if (opts.json) return print(JSON.stringify(views, null, 2));
        printTable(
          views.map((v) => ({ id: String(v.id), plugin: String(v.plugin), name: String(v.username ?? v.key_id ?? ''), source: String(v.source) })),
          ['id', 'plugin', 'name', 'source'],
        );
      });
    });
  credential
    .command('rotate')
    .description("replace a credential's key, password or secret in place (same id); a generated one is printed once")
    .argument('<username>')
    .argument('<credential-id>')
    .option(...CONFIG_OPTION)
    .addOption(pluginOption())
    .option('--key <key>', 'key-auth: the new key (default: generated)')
    .option('--password <password>', 'basic-auth: the new password (default: generated)')
    .option('--secret <secret>', 'hmac-auth: the new shared secret (default: generated)')
    .option('--json', 'print JSON')
    .action(async function rotateCredential(
      username: string,
      id: string,
      opts: { config?: string; plugin: CredentialPlugin; key?: string; password?: string; secret?: string; json?: boolean },
    ) {
      const field = ({ 'key-auth': 'key', 'basic-auth': 'password', 'hmac-auth': 'secret' } as const)[opts.plugin];
      for (const flag of ['key', 'password', 'secret'] as const) {
        if (opts[flag] !== undefined && flag !== field) throw new UsageError(`--${flag} is not for ${opts.plugin}; use --${field}`);
      }
      const cfg = readConfig(opts);
      const keys = credentialKeys(requireSecret(cfg));
      const generated = opts[field] === undefined;
      const value = opts[field] ?? randomToken(field === 'password' ? 18 : 32);
      const view = await withStorage(cfg, async (s) => {
        const owner = await findConsumer(s, username);
        const cred = await s.credentials.get(id);
        if (!cred || cred.consumer_id !== owner.id || cred.plugin !== opts.plugin) throw new UsageError(`${username} has no ${opts.plugin} credential ${id}`);
        if (cred.source === 'config') throw new UsageError('this credential is defined in the config file; change it there');
        let prepared;
        try {
          prepared = await prepareCredentialPatch(cred, { [field]: value }, keys);
        } catch (err) {
          if (err instanceof CredentialInputError) throw new UsageError(`--${err.field.replace('_', '-')}: ${err.message.slice(err.field.length + 2)}`);
          throw err;
        }
        const next = { ...cred, lookup: prepared.lookup, secret_hash: prepared.secret_hash, secret_sealed: prepared.secret_sealed };
        // one write under the same id; a new key that another credential has changes nothing
        if (!(await s.credentials.replace(next))) throw new UsageError('--key: already in use');
        return describeCredential(next, owner.username);
      });
      await announce(cfg, username);
      const shown: Record<string, string> = generated ? { [field]: value } : {};
      if (opts.json) return print(JSON.stringify({ ...view, ...shown }, null, 2));
      print(`rotated ${opts.plugin} credential ${id} of ${username}`);
      for (const [k, v] of Object.entries(shown)) print(`${k}: ${v}`);
      if (generated) print('This is shown only now; Drawbridge keeps only a digest, hash or sealed copy.');
    });
  credential
    .command('delete')
    .description('delete one credential')
    .argument('<username>')
    .argument('<credential-id>')
    .option(...CONFIG_OPTION)
    .addOption(pluginOption())
    .action(async function deleteCredential(username: string, id: string, opts: { config?: string; plugin: CredentialPlugin }) {
      const cfg = readConfig(opts);
      await withStorage(cfg, async (s) => {
        const owner = await findConsumer(s, username);
        const cred = await s.credentials.get(id);
        if (!cred || cred.consumer_id !== owner.id || cred.plugin !== opts.plugin) throw new UsageError(`${username} has no ${opts.plugin} credential ${id}`);
        if (cred.source === 'config') throw new UsageError('this credential is defined in the config file; remove it there');
        await s.credentials.delete(id);
      });
      await announce(cfg, username);
      print(`deleted ${opts.plugin} credential ${id} of ${username}`);
    });
}

/** --tag collector: a tag may hold spaces (Kong's rule), so only commas separate (unlike --group). */
function collectTags(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').filter((t) => t !== '')];
}

/** Credentials are digested and sealed under the master secret: a real one, as `start` needs. */
function requireSecret(cfg: Config): string {
  assertProductionSecret(cfg);
  return cfg.secret!;
}

function refuseConfigConsumer(cfg: Config, username: string): void {
  if (cfg.gateway?.consumers.some((c) => c.username === username)) {
    throw new UsageError(`consumer "${username}" is defined in the config file; change it there`);
  }
}

async function findConsumer(s: Storage, username: string): Promise<ConsumerRecord> {
  const rec = await s.consumers.getByUsername(username);
  if (!rec) throw new UsageError(`no consumer "${username}"`);
  return rec;
}

/** Tells running gateways to drop cached credentials; best effort (they also expire by TTL). */
async function announce(cfg: Config, username: string): Promise<void> {
  if (!cfg.redis) return;
  // loaded on demand: only this path needs a Redis client
  const { Redis } = await import('ioredis');
  const { EVENTS_CHANNEL } = await import('../../gateway/events.js');
  const redis = new Redis(cfg.redis, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.publish(EVENTS_CHANNEL, JSON.stringify({ type: 'credentials.changed', consumer: username }));
  } catch (err) {
    process.stderr.write(`drawbridge: warning: could not notify running gateways over redis (${(err as Error).message}); they pick up the change within 30 s\n`);
  } finally {
    redis.disconnect();
  }
}
