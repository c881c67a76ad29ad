// `drawbridge user …`: local users of the login pages, in storage. Users from the config file
// are synced at start; here they can be locked, unlocked and have MFA reset, but what the
// file says (its password, its mfa_required) is changed in the file. The changes themselves
// are src/auth/users/manage.ts, shared with the admin API's /users; this file reads the
// command line and the password, and prints.
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import type { Config, PasswordPolicyConfig } from '../../config/types.js';
import { systemClock } from '../../core/clock.js';
import { checkPassword, generatePassword, hashPassword } from '../../auth/users/password.js';
import {
  checkClaimName,
  checkNewUser,
  checkPasswordSettable,
  createUser,
  deleteUser,
  listUserViews,
  lockUser,
  passwordPolicy,
  resetUserMfa,
  setUserMfaRequired,
  setUserPassword,
  signOutEverywhere,
  unlockUser,
  type UserChangeDeps,
} from '../../auth/users/manage.js';
import { signedOutAnswer, type SignedOut } from '../../core/signed-out.js';
import { openAudit, print, printTable, readConfig, UsageError, withStorage } from '../shared.js';
import { printBackchannel, signOutForUserChange } from './session.js';

interface PasswordOptions {
  config?: string;
  passwordStdin?: boolean;
  json?: boolean;
}

interface SetPasswordOptions extends PasswordOptions {
  signOut?: boolean;
}

interface CreateOptions extends PasswordOptions {
  claim?: string[];
  requireMfa?: boolean;
}

const CONFIG_OPTION = ['-c, --config <file>', 'config file; default $DRAWBRIDGE_CONFIG'] as const;
const STDIN_OPTION = ['--password-stdin', 'read the password from standard input (one line)'] as const;

export function registerUserCommands(program: Command): void {
  const user = program
    .command('user')
    .description(
      'users of the login pages: create, list, set-password, lock, unlock, reset-mfa, require-mfa, revoke, delete, hash-password ' +
        '(changes are audit events in auth.audit.file; the admin API\'s /users makes the same changes)',
    );

  user
    .command('create')
    .description('create a user; the password comes from --password-stdin, a prompt (on a terminal), or is generated and printed once')
    .argument('<username>')
    .option(...CONFIG_OPTION)
    .option(...STDIN_OPTION)
    .option('--claim <name=value>', 'a claim for ID tokens and userinfo, e.g. email=alice@example.com or groups=["admin"] (repeatable)', collectClaim)
    .option('--require-mfa', 'require TOTP at login (the user enrols at the first login)')
    .option('--json', 'print JSON')
    .action(async function createUserCommand(username: string, opts: CreateOptions) {
      const cfg = readConfig(opts);
      const claims = parseClaims(opts.claim ?? []);
      await withUserDeps(cfg, async (deps) => {
        const user = { username, claims, require_mfa: opts.requireMfa === true };
        // Checked before asking for a password, and again by createUser.
        await checkNewUser(deps, user);
        const { password, generated } = await obtainPassword(opts, passwordPolicy(cfg.auth), username, true);
        const stored = await createUser(deps, { ...user, password });
        if (opts.json) {
          print(JSON.stringify({ id: stored.id, username, password: generated ? password : null }, null, 2));
          return;
        }
        print(`created user ${username} (id ${stored.id})`);
        if (generated) {
          print(`password: ${password}`);
          print('The password is shown only now; Drawbridge keeps only its argon2id hash.');
        }
      });
    });

  user
    .command('list')
    .description('list users (from the config file once the server has started, and created here or through the admin API)')
    .option(...CONFIG_OPTION)
    .option('--json', 'print JSON')
    .action(async function listUsers(opts: { config?: string; json?: boolean }) {
      const cfg = readConfig(opts);
      await withStorage(cfg, async (s) => {
        const users = await listUserViews(s);
        if (opts.json) {
          print(JSON.stringify(users, null, 2));
          return;
        }
        printTable(
          users.map((u) => ({
            username: u.username,
            id: u.id,
            source: u.source,
            locked: u.locked ? 'yes' : 'no',
            mfa_required: u.mfa.required ? 'yes' : 'no',
            totp: u.mfa.totp ? 'yes' : 'no',
          })),
          ['username', 'id', 'source', 'locked', 'mfa_required', 'totp'],
        );
      });
    });

  user
    .command('set-password')
    .description(
      "replace a user's password (same input as create); sessions and tokens stay unless --sign-out " +
        '(as Keycloak keeps them on an admin password reset)',
    )
    .argument('<username>')
    .option(...CONFIG_OPTION)
    .option(...STDIN_OPTION)
    .option('--sign-out', 'also sign the user out everywhere, as `user revoke` (SSO and gateway sessions, every token, back-channel logout)')
    .option('--json', 'print JSON')
    .action(async function setPassword(username: string, opts: SetPasswordOptions) {
      const cfg = readConfig(opts);
      await withUserDeps(cfg, async (deps) => {
        await checkPasswordSettable(deps, username);
        const { password, generated } = await obtainPassword(opts, passwordPolicy(cfg.auth), username, true);
        const { signedOut } = await setUserPassword(deps, username, password, {}, { signOut: opts.signOut === true });
        if (opts.json) {
          print(JSON.stringify({ username, password: generated ? password : null, ...(signedOut ? { signed_out: signedOutAnswer(signedOut) } : {}) }, null, 2));
          return;
        }
        print(`password of ${username} replaced${signedOut ? `; ${signedOutText(signedOut)}` : ''}`);
        if (signedOut) printBackchannel(signedOut.backchannel);
        if (generated) {
          print(`password: ${password}`);
          print('The password is shown only now; Drawbridge keeps only its argon2id hash.');
        }
      });
    });

  user
    .command('lock')
    .description('lock a user out (logins fail like a wrong password) and sign them out everywhere, as `user revoke`: SSO and gateway sessions ended, tokens revoked')
    .argument('<username>')
    .option(...CONFIG_OPTION)
    .option('--json', 'print JSON (as `user revoke --json`)')
    .action(async function lockUserCommand(username: string, opts: { config?: string; json?: boolean }) {
      const cfg = readConfig(opts);
      await withUserDeps(cfg, async (deps) => {
        const { revoked, signedOut } = await lockUser(deps, username);
        if (opts.json) return printSignedOut(username, signedOut, revoked);
        print(`locked ${username}; revoked ${revoked} token(s), ended ${signedOut.sessions.length} session(s)`);
        printBackchannel(signedOut.backchannel);
      });
    });

  user
    .command('unlock')
    .description('let a locked user log in again')
    .argument('<username>')
    .option(...CONFIG_OPTION)
    .action(async function unlockUserCommand(username: string, opts: { config?: string }) {
      const cfg = readConfig(opts);
      await withUserDeps(cfg, async (deps) => {
        await unlockUser(deps, username);
        print(`unlocked ${username}`);
      });
    });

  user
    .command('reset-mfa')
    .description("forget a user's authenticator and recovery codes; where MFA is required they enrol again at the next login")
    .argument('<username>')
    .option(...CONFIG_OPTION)
    .action(async function resetMfa(username: string, opts: { config?: string }) {
      const cfg = readConfig(opts);
      await withUserDeps(cfg, async (deps) => {
        const reset = await resetUserMfa(deps, username);
        print(reset ? `MFA of ${username} reset` : `${username} had no MFA set up; nothing to reset`);
      });
    });

  user
    .command('require-mfa')
    .description('require TOTP at login for a user (--off: no longer require it)')
    .argument('<username>')
    .option(...CONFIG_OPTION)
    .option('--off', 'stop requiring MFA')
    .action(async function requireMfa(username: string, opts: { config?: string; off?: boolean }) {
      const cfg = readConfig(opts);
      await withUserDeps(cfg, async (deps) => {
        await setUserMfaRequired(deps, username, !opts.off);
        print(opts.off ? `MFA no longer required for ${username}` : `MFA required for ${username}`);
      });
    });

  user
    .command('delete')
    .description('delete a user (and their MFA state) after signing them out everywhere, as `user revoke`')
    .argument('<username>')
    .option(...CONFIG_OPTION)
    .option('--json', 'print JSON (as `user revoke --json`)')
    .action(async function deleteUserCommand(username: string, opts: { config?: string; json?: boolean }) {
      const cfg = readConfig(opts);
      await withUserDeps(cfg, async (deps) => {
        const { revoked, signedOut } = await deleteUser(deps, username);
        if (opts.json) return printSignedOut(username, signedOut, revoked);
        print(`deleted user ${username}; revoked ${revoked} token(s), ended ${signedOut.sessions.length} session(s)`);
        printBackchannel(signedOut.backchannel);
      });
    });

  user
    .command('revoke')
    .description('sign a user out everywhere: revoke all their access and refresh tokens and end their SSO sessions')
    .argument('<username>')
    .option(...CONFIG_OPTION)
    .option('--json', 'print JSON')
    .action(async function revokeUser(username: string, opts: { config?: string; json?: boolean }) {
      const cfg = readConfig(opts);
      await withUserDeps(cfg, async (deps) => {
        // the same path as the admin API's POST /users/{username}/logout and `session revoke
        // --user`: sessions ended (SQL or Redis), every token revoked, gateways told,
        // back-channel logout sent to the clients of those sessions; answered in its words
        const { signedOut } = await signOutEverywhere(deps, username);
        if (opts.json) return printSignedOut(username, signedOut);
        print(`signed ${username} out everywhere: revoked ${signedOut.tokens_revoked} token(s), ended ${signedOut.sessions.length} session(s)`);
        // as `session revoke`: delivered, failed, and those the auth servers will retry
        printBackchannel(signedOut.backchannel);
      });
    });

  user
    .command('hash-password')
    .description('print the argon2id hash of a password, for `password_hash` in the config file')
    .option('-c, --config <file>', 'config file whose password policy applies; default $DRAWBRIDGE_CONFIG, else the default policy')
    .option(...STDIN_OPTION)
    .option('--username <username>', 'the user it is for (the password may not be the username)')
    .action(async function hashPasswordCommand(opts: PasswordOptions & { username?: string }) {
      const file = opts.config ?? process.env.DRAWBRIDGE_CONFIG;
      const policy = passwordPolicy(file ? loadConfig(file).auth : undefined);
      const { password } = await obtainPassword(opts, policy, opts.username, false);
      print(await hashPassword(password));
    });
}

/**
 * The shared user operations on this config's storage: audit lines to the configured file,
 * opened once; sign-outs (revoke, lock, delete, set-password --sign-out) as `session revoke
 * --user` does them, their audit lines to the same file.
 */
async function withUserDeps<T>(cfg: Config, fn: (deps: UserChangeDeps) => Promise<T>): Promise<T> {
  return withStorage(cfg, async (storage) => {
    const audit = await openAudit(cfg);
    try {
      return await fn({ storage, clock: systemClock, auth: () => cfg.auth, signOut: (user) => signOutForUserChange(cfg, storage, user, audit), audit, source: 'cli' });
    } finally {
      await audit.close?.();
    }
  });
}

function signedOutText(out: SignedOut): string {
  return `signed out everywhere: revoked ${out.tokens_revoked} token(s), ended ${out.sessions.length} session(s)`;
}

function collectClaim(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `name=value`; the value is JSON when it parses as JSON (true, 3, ["a"], {…}), else a string. */
function parseClaims(pairs: string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--claim: expected name=value, got "${pair}"`);
    const name = pair.slice(0, eq);
    const text = pair.slice(eq + 1);
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      // a plain string
    }
    checkClaimName(name, '--claim');
    claims[name] = value;
  }
  return claims;
}

/**
 * The new password: from standard input (--password-stdin), from a prompt without echo when
 * standard input is a terminal, else (when allowed) generated. The policy applies to all.
 */
async function obtainPassword(
  opts: PasswordOptions,
  policy: PasswordPolicyConfig,
  username: string | undefined,
  mayGenerate: boolean,
): Promise<{ password: string; generated: boolean }> {
  let password: string;
  if (opts.passwordStdin) {
    password = (await readStdin()).replace(/\r?\n$/, '');
    if (password === '') throw new UsageError('--password-stdin: standard input is empty');
  } else if (process.stdin.isTTY) {
    password = await promptHidden('Password: ');
    const policyCheck = checkPassword(password, policy, username);
    if (!policyCheck.ok) throw new UsageError(policyCheck.message);
    if ((await promptHidden('Repeat password: ')) !== password) throw new UsageError('the passwords do not match');
  } else if (mayGenerate) {
    return { password: generatePassword(), generated: true };
  } else {
    throw new UsageError('give the password with --password-stdin (or run on a terminal to be prompted)');
  }
  const check = checkPassword(password, policy, username);
  if (!check.ok) throw new UsageError(check.message);
  return { password, generated: false };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads one line from the terminal without echoing it (prompt on stderr, so stdout stays clean). */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise<string>((resolve, reject) => {
    let value = '';
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.resume();
    function finish(err?: Error): void {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    }
    function onData(chunk: string): void {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) return finish(new UsageError('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    }
    stdin.on('data', onData);
  });
}

/**
 * What a sign-out everywhere ended, in the admin API's words (POST /users/{username}/logout):
 * `user revoke`, `lock` and `delete --json`. `revoked`: every token revoked, where lock and
 * delete revoked some before the sign-out.
 */
function printSignedOut(username: string, signedOut: SignedOut, revoked = signedOut.tokens_revoked): void {
  print(JSON.stringify({ username, ...signedOutAnswer({ ...signedOut, tokens_revoked: revoked }) }, null, 2));
}
