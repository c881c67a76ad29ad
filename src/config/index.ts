// The config module's public names.

export {
  ConfigError,
  configSchema,
  keyPath,
  validateConfig,
  type ConfigErrorOptions,
  type SourceLocation,
} from './schema.js';
export { assertProductionSecret, assertStartable, interpolateEnv, loadConfig, parseConfigText, rolesToStart, type Env, type Role } from './load.js';
export { renderConfigReference } from './doc.js';
export type {
  AccessTokenFormat,
  AuthConfig,
  ClientAuthMethod,
  ClientConfig,
  Config,
  ConsumerConfig,
  GatewayConfig,
  GrantType,
  JwkSet,
  KeysConfig,
  LogConfig,
  LogLevel,
  PluginConfig,
  ServiceConfig,
  ServiceRouteConfig,
  SigningAlg,
  TlsConfig,
  UserConfig,
} from './types.js';
