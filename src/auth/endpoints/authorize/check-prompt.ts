// prompt (none, login, consent, select_account), max_age, login_hint, nonce and state
// (OIDC Core §3.1.2.1).
import type { FormParams } from '../../../core/http.js';
import { AuthorizationError } from './request.js';

const PROMPTS = new Set(['none', 'login', 'consent', 'select_account']);

export function checkPrompt(params: FormParams): Set<string> {
  const raw = params.get('prompt');
  const prompt = new Set(raw === undefined ? [] : raw.split(' ').filter((p) => p !== ''));
  for (const p of prompt) if (!PROMPTS.has(p)) throw new AuthorizationError('invalid_request', `prompt "${p}" is not supported`);
  if (prompt.has('none') && prompt.size > 1) throw new AuthorizationError('invalid_request', 'prompt=none cannot be combined with other values');
  return prompt;
}

export function checkMaxAge(params: FormParams): number | undefined {
  const raw = params.get('max_age');
  if (raw === undefined) return undefined;
  if (!/^\d{1,9}$/.test(raw)) throw new AuthorizationError('invalid_request', 'max_age must be a non-negative integer');
  return Number(raw);
}

export function checkLength(params: FormParams, name: 'state' | 'nonce' | 'login_hint'): string | undefined {
  const value = params.get(name);
  if (value !== undefined && value.length > 1024) throw new AuthorizationError('invalid_request', `${name} is too long`);
  return value;
}
