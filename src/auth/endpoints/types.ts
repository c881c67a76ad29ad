import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from '../../core/listener.js';
import type { AuthContext } from '../context.js';

export interface Endpoint {
  methods: readonly string[];
  handle(ctx: AuthContext, req: IncomingMessage, res: ServerResponse, rc: RequestContext): Promise<void>;
}
