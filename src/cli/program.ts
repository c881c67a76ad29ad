// The `drawbridge` command tree. Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../config/index.js';
import { Refused } from '../core/refused.js';
import { registerClientCommands } from './commands/client.js';
import { registerConfigCommands } from './commands/config.js';
import { registerConsumerCommands } from './commands/consumer.js';
import { registerDevCommand } from './commands/dev.js';
import { registerKeyCommands } from './commands/key.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerSessionCommands } from './commands/session.js';
import { registerStartCommand } from './commands/start.js';
import { registerTokenCommand } from './commands/token.js';
import { registerUserCommands } from './commands/user.js';
import { StartupError, UsageError } from './errors.js';

export function buildProgram(): Command {
  const program = new Command('drawbridge')
    .description('Drawbridge: OAuth 2.0 / OpenID Connect authorization server and API gateway for microservices')
    .version('0.1.0')
    .showHelpAfterError()
    .addOption(new Option('--no-color', 'plain output').hideHelp());
  registerDevCommand(program);
  registerStartCommand(program);
  registerConfigCommands(program);
  registerMigrateCommand(program);
  registerClientCommands(program);
  registerConsumerCommands(program);
  registerKeyCommands(program);
  registerTokenCommand(program);
  registerUserCommands(program);
  registerSessionCommands(program);
  program.exitOverride();
  for (const cmd of allCommands(program)) cmd.exitOverride();
  return program;
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    return 2; // commander already printed the message (also help shown for a missing subcommand)
  }
  // a change the rules refuse (a taken name, a weak password, a user of the config file) is the caller's to fix
  if (err instanceof ConfigError || err instanceof UsageError || err instanceof Refused) {
    process.stderr.write(`drawbridge: ${err.message}\n`);
    return 2;
  }
  if (err instanceof StartupError) {
    process.stderr.write(`drawbridge: ${err.message}\n`);
    return err.exitCode;
  }
  process.stderr.write(`drawbridge: ${(err as Error)?.message ?? String(err)}\n`);
  return 1;
}
