// Public surface of the storage layer.

export { openStorage, pendingMigrations } from './open.js';
export type { OpenStorageOptions } from './open.js';
export type {
  ClientRecord,
  ClientRepo,
  ConsumerRecord,
  ConsumerRepo,
  CredentialPlugin,
  CredentialRecord,
  CredentialRepo,
  EntityKind,
  EntityRecord,
  EntityRepo,
  JtiRepo,
  KeyRepo,
  KeyStatus,
  RecordSource,
  SigningKeyRecord,
  Storage,
  TokenRecord,
  TokenRepo,
  UserRecord,
  UserRepo,
} from './types.js';
