// `request-size-limiting` (intercept stage), with Kong's keys. A declared Content-Length
// over the limit is refused before anything else runs (Node's parser guarantees the body
// is no longer than declared). A chunked body has no declared length: it is counted as
// the proxy streams it (`gr.bodyLimit`, body-limit.ts) and cut off at the limit with 413,
// or refused up front with 411 when `require_content_length` is set.
import { bool, int, object, oneOf } from '../../config/schema.js';
import { GatewayError } from '../errors.js';
import type { GatewayRequest, Interceptor, PluginFactory } from '../types.js';
import { bodyTooLarge } from './body-limit.js';

type SizeUnit = 'bytes' | 'kilobytes' | 'megabytes';

interface RequestSizeLimitingConfig {
  allowed_payload_size: number;
  size_unit: SizeUnit;
  require_content_length: boolean;
}

const UNIT_BYTES: Record<SizeUnit, number> = { bytes: 1, kilobytes: 1024, megabytes: 1024 * 1024 };

export const requestSizeLimitingConfigSchema = object<RequestSizeLimitingConfig>({
  allowed_payload_size: int(0, 1024 ** 3).default(128).doc('Largest request body allowed, in `size_unit`s.'),
  size_unit: oneOf<SizeUnit>(['bytes', 'kilobytes', 'megabytes'])
    .default('megabytes')
    .doc('Unit of `allowed_payload_size` (binary: a kilobyte is 1024 bytes).'),
  require_content_length: bool()
    .default(false)
    .doc('Refuse bodies without Content-Length (chunked) with 411 instead of counting them.'),
});

function lengthRequired(): GatewayError {
  return new GatewayError('invalid_request', 411, 'a Content-Length header is required for a request body', {
    headers: { connection: 'close' },
    reason: 'request_size',
  });
}

export function createRequestSizeLimiter(config: Record<string, unknown>, path: string): Interceptor {
  const settings = requestSizeLimitingConfigSchema.parse(config, path);
  const limit = settings.allowed_payload_size * UNIT_BYTES[settings.size_unit];
  const requireLength = settings.require_content_length;
  return {
    name: 'request-size-limiting',
    intercept: function interceptSize(gr: GatewayRequest): boolean {
      const headers = gr.req.headers;
      const declared = headers['content-length'];
      if (declared !== undefined) {
        if (Number(declared) > limit) throw bodyTooLarge(limit);
        return false;
      }
      if (headers['transfer-encoding'] === undefined) return false; // no body at all
      if (requireLength) throw lengthRequired();
      if (gr.bodyLimit === undefined || limit < gr.bodyLimit) gr.bodyLimit = limit;
      return false;
    },
  };
}

export const requestSizeLimitingPlugin: PluginFactory = {
  name: 'request-size-limiting',
  create: function createRequestSizeLimitingPlugin(config, _deps, path) {
    return { stage: 'intercept', impl: createRequestSizeLimiter(config, path) };
  },
};
