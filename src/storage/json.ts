// JSON columns are TEXT on both dialects (see schema.ts); these keep the (de)serialising in one place.

import type { JsonText } from './schema.js';

export function toJson(value: unknown): JsonText {
  return JSON.stringify(value);
}

export function toJsonOrNull(value: unknown): JsonText | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

export function fromJson<T>(text: JsonText): T {
  return JSON.parse(text) as T;
}

export function fromJsonOrNull<T>(text: JsonText | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}
