// A change refused by a rule of the domain: a name already taken, a password the policy
// refuses, an entity the config file owns, nothing by that name. Domain code shared by several
// interfaces throws it, and each words it its own way: the CLI exits 2 with the message, the
// admin API answers 400 (`fields` naming `field`), 404 or 409. Lives in core so that code of
// either role can recognise it without importing the other.

type RefusalKind = 'invalid' | 'not_found' | 'conflict';

export class Refused extends Error {
  override readonly name = 'Refused';
  readonly kind: RefusalKind;
  /** the input at fault (`password`, `claims.sub`), when one is */
  readonly field: string | undefined;
  /** the message without the field, for answers that name the field apart (`fields`) */
  readonly problem: string;

  constructor(kind: RefusalKind, problem: string, field?: string) {
    // a conflict or a missing entity says what it is about in its own words
    super(kind === 'invalid' && field !== undefined ? `${field}: ${problem}` : problem);
    this.kind = kind;
    this.field = field;
    this.problem = problem;
  }
}
