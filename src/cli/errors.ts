// CLI error types, kept free of heavy imports so that `--help` and config validation
// start fast: 1 is a runtime failure, 2 a usage or config error.

export class StartupError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.exitCode = exitCode;
  }
}

/** A wrong flag or argument: exit code 2. */
export class UsageError extends Error {}
