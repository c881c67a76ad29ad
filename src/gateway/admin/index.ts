// The admin API and the configuration control loop (see control.ts for the wiring).
export { startGatewayControl, withAdminEntities } from './control.js';
export type { GatewayControl, GatewayControlOptions } from './control.js';
export type { UserAdmin, UserAdminFactory } from './context.js';
export { mergeAdminEntities } from './merge.js';
export { adminHandler, assertAdminListenSafe, isLoopbackHost, ADMIN_CHALLENGE } from './server.js';
