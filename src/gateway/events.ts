// The gateway's event bus lives in src/cache/events.ts (the auth server publishes on it
// too, and the two roles never import each other); re-exported here for gateway code.
export { createEventBus, EVENTS_CHANNEL, parseEvent, type RunningEventBus } from '../cache/events.js';
