// Checks on text that names things (ids, names, credentials as presented): a control
// character never belongs in one, and letting it through reaches places that refuse it
// (PostgreSQL and NUL, HTTP fields and CR/LF, log lines).
const CONTROL = /[\x00-\x1f\x7f]/;

/** Whether `text` holds a C0 control character or DEL. */
export function hasControlCharacter(text: string): boolean {
  return CONTROL.test(text);
}
