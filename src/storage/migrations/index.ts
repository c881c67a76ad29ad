// Every migration, in order. Listed statically (no directory scanning) so they are bundled
// with the build and `drawbridge migrate` needs nothing but the compiled code.
// Names sort in application order: append `NNNN-name` entries, never rename or remove one.

import type { Migration, MigrationProvider } from 'kysely';
import * as initial from './0001-initial.js';
import * as gateway from './0002-gateway.js';

const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-gateway': gateway,
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
