// hmac-auth reads the usual Signature-Input / Signature pair without the general RFC 8941
// parser (findUsualHmacSignature, src/gateway/authn/hmac/message-signature.ts). It must
// decide exactly as the parser-based path does: both run here over valid fields, malformed
// ones, and random mutations of valid ones, and their results must be identical — including
// the serialized inner list the signature base ends with.
import * as assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  findHmacSignature,
  findHmacSignatureParsed,
  findUsualHmacSignature,
  verifyHmacSignature,
} from '../../src/gateway/authn/hmac/message-signature.js';
import { signatureBase, type SignedMessage } from '../../src/gateway/authn/hmac/signature-base.js';

const MAC = 'q0+1d7QCyDbKqpCQ8cvtD3k+xTg2H8rQqdE4IeTWvFM=';
const SIG = `sig1=:${MAC}:`;
const BENCH = 'sig1=("@method" "@authority" "@path");created=1795437392;keyid="bench-hmac";alg="hmac-sha256";nonce="Zm9vYmFy-_x"';

/** [Signature-Input, Signature] pairs the usual path takes. */
const USUAL: Array<[string, string]> = [
  [BENCH, SIG],
  ['sig1=("@method" "@authority" "@path" "@query" "content-digest");created=1;expires=2;keyid="k 1";nonce="n"', SIG],
  ['sig1=();keyid="k"', SIG],
  ['a-b.c*_9=("@method");keyid="k";created=0;tag="app"', `a-b.c*_9=:${MAC}:`],
  ['sig1=("x-custom" "@path");keyid="!#$%&\'()*+,-./:;<=>?@[]^_`{|}~";alg="hmac-sha256";created=999999999999999', SIG],
  ['sig1=("@method");keyid="";created=1795437392;foo=12;bar="baz"', SIG],
  ['sig1=("@method" "@method");keyid="k"', SIG],
  ['sig1=("@Method");keyid="k"', SIG],
  ['sig1=("@method");keyid="k"', 'sig1=::'],
  ['sig1=("@method");keyid="k"', 'sig1=:YQ==:'],
  ['sig1=("@method");keyid="k"', 'sig1=:YWI=:'],
  ['sig1=("@method");keyid="k"', 'sig1=:YR==:'],
  ['sig1=("@method");keyid="k"', 'sig1=:YWJ=:'],
  ['sig1=("@method");keyid="k"', 'sig1=:+/+/AAAA:'],
  ['sig1=("@method");keyid="k"', `sig1=:${'AAAA'.repeat(1000)}Ag==:`],
];

/** Pairs the usual path leaves to the parser (some valid, most not). */
const UNUSUAL: Array<[string, string | undefined]> = [
  [BENCH, undefined],
  [` ${BENCH}`, SIG],
  [`${BENCH} `, SIG],
  [`${BENCH}, sig2=("@path");keyid="other"`, SIG],
  [`sig0=?1, ${BENCH}`, SIG],
  [`${BENCH},`, SIG],
  ['sig1=( "@method" "@path");keyid="k"', SIG],
  ['sig1=("@method"  "@path");keyid="k"', SIG],
  ['sig1=("@method" "@path" );keyid="k"', SIG],
  ['sig1=("@method"\t"@path");keyid="k"', SIG],
  ['sig1=("@method");keyid="k";', SIG],
  ['sig1=("@method"); keyid="k"', SIG],
  ['sig1=("@method");keyid= "k"', SIG],
  ['sig1=("@method");keyid="k";created=01', SIG],
  ['sig1=("@method");keyid="k";created=-1', SIG],
  ['sig1=("@method");keyid="k";created=-0', SIG],
  ['sig1=("@method");keyid="k";created=1.5', SIG],
  ['sig1=("@method");keyid="k";created=1.', SIG],
  ['sig1=("@method");keyid="k";created=1000000000000000', SIG],
  ['sig1=("@method");keyid="k";created="1"', SIG],
  ['sig1=("@method");keyid="k";nonce=1', SIG],
  ['sig1=("@method");keyid="k";tag=1', SIG],
  ['sig1=("@method");keyid="k";alg=1', SIG],
  ['sig1=("@method");keyid=1', SIG],
  ['sig1=("@method");keyid="k";expires="1"', SIG],
  ['sig1=("@method");keyid="k";expires=?1', SIG],
  ['sig1=("@method");keyid=k', SIG],
  ['sig1=("@method");keyid=?1', SIG],
  ['sig1=("@method");keyid=:YQ==:', SIG],
  ['sig1=("@method");keyid="k";flag', SIG],
  ['sig1=("@method");keyid="k";x=1.25', SIG],
  ['sig1=("@method");keyid="a";keyid="b"', SIG],
  ['sig1=("@method");keyid="k";created=1;created=2', SIG],
  ['sig1=("@method");keyid="k\\"q"', SIG],
  ['sig1=("@method");keyid="k\\\\"', SIG],
  ['sig1=("@method");keyid="k', SIG],
  ['sig1=("@method");keyid="k\u00e9"', SIG],
  ['sig1=("@method");keyid="k\u007f"', SIG],
  ['sig1=("@method");keyid="k\u0009"', SIG],
  ['sig1=("@me\\"thod");keyid="k"', SIG],
  ['sig1=("@query-param";name="a");keyid="k"', SIG],
  ['sig1=("content-digest";sf);keyid="k"', SIG],
  ['sig1=(@method);keyid="k"', SIG],
  ['sig1=(1 "@method");keyid="k"', SIG],
  ['sig1=("@method";keyid="k"', SIG],
  ['sig1=("@method")keyid="k"', SIG],
  ['sig1=("@method");alg="rsa-pss-sha512";keyid="k"', SIG],
  ['sig1=("@method");alg="hmac-sha256"', SIG],
  ['sig1=("@method");alg=hmac-sha256;keyid="k"', SIG],
  ['sig1=("@method");created=1', SIG],
  ['sig1="@method";keyid="k"', SIG],
  ['sig1;keyid="k"', SIG],
  ['sig1', SIG],
  ['', SIG],
  ['=("@method");keyid="k"', SIG],
  ['Sig1=("@method");keyid="k"', 'Sig1=:YQ==:'],
  ['*sig=("@method");keyid="k"', '*sig=:YQ==:'],
  ['1sig=("@method");keyid="k"', SIG],
  ['sig1=("@method");Keyid="k"', SIG],
  ['sig1=("@method");*k=1;keyid="k"', SIG],
  ['sig1=("@method");keyid="k"', `sig2=:${MAC}:`],
  ['sig1=("@method");keyid="k"', `sig10=:${MAC}:`],
  ['sig10=("@method");keyid="k"', SIG],
  ['sig1=("@method");keyid="k"', `sig1=:${MAC}:, sig2=:YQ==:`],
  ['sig1=("@method");keyid="k"', `sig2=:YQ==:, sig1=:${MAC}:`],
  ['sig1=("@method");keyid="k"', ` sig1=:${MAC}:`],
  ['sig1=("@method");keyid="k"', `sig1=:${MAC}: `],
  ['sig1=("@method");keyid="k"', `sig1=:${MAC}:;p=1`],
  ['sig1=("@method");keyid="k"', `sig1=:${MAC}`],
  ['sig1=("@method");keyid="k"', 'sig1=:YQ=:'],
  ['sig1=("@method");keyid="k"', 'sig1=:YQ:'],
  ['sig1=("@method");keyid="k"', 'sig1=:Y===:'],
  ['sig1=("@method");keyid="k"', 'sig1=:YQ==YQ==:'],
  ['sig1=("@method");keyid="k"', 'sig1=:YQ-_:'],
  ['sig1=("@method");keyid="k"', 'sig1=:YQ=a:'],
  ['sig1=("@method");keyid="k"', 'sig1=:YQ:=:'],
  ['sig1=("@method");keyid="k"', 'sig1=:====:'],
  ['sig1=("@method");keyid="k"', 'sig1=:A===:'],
  ['sig1=("@method");keyid="k"', 'sig1=:AB=C:'],
  ['sig1=("@method");keyid="k"', 'sig1=:=AAA:'],
  ['sig1=("@method");keyid="k"', 'sig1=:YQ==AAAA:'],
  ['sig1=("@method");keyid="k"', 'sig1=:YQ\u00e9=:'],
  ['sig1=("@method");keyid="k"', 'sig1=:YQ\u0100=:'],
  ['sig1=("@method");keyid="k"', 'sig1=:YQ\u00c1=:'],
  ['sig1=("@method");keyid="k"', 'sig1=:'],
  ['sig1=("@method");keyid="k"', 'sig1='],
  ['sig1=("@method");keyid="k"', 'sig1=("x")'],
  ['sig1=("@method");keyid="k"', 'sig1=?1'],
  ['sig1=("@method");keyid="k"', 'sig1'],
  ['sig1=("@method");keyid="k"', ''],
];

function check(input: string, field: string | undefined): boolean {
  const usual = findUsualHmacSignature(input, field);
  const parsed = findHmacSignatureParsed(input, field);
  if (usual !== undefined) assert.deepStrictEqual(usual, parsed, `${JSON.stringify(input)} / ${JSON.stringify(field)}`);
  assert.deepStrictEqual(findHmacSignature(input, field), parsed, `${JSON.stringify(input)} / ${JSON.stringify(field)}`);
  return usual !== undefined;
}

/** A small deterministic generator (xorshift32), so a failure can be replayed. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const ALPHABET = ['"', '\\', '(', ')', ';', '=', ':', ',', ' ', '\t', '-', '.', '*', '?', '0', '1', '9', 'a', 'z', 'A', '+', '/', '@', '\u00e9', '\u007f', '\u0000'];

function mutate(text: string, next: () => number): string {
  const at = Math.floor(next() * (text.length + 1));
  const pick = (): string => ALPHABET[Math.floor(next() * ALPHABET.length)]!;
  switch (Math.floor(next() * 6)) {
    case 0:
      return text.slice(0, at) + text.slice(at + 1);
    case 1:
      return text.slice(0, at) + pick() + text.slice(at);
    case 2:
      return text.slice(0, at) + pick() + text.slice(at + 1);
    case 3: {
      const length = 1 + Math.floor(next() * 12);
      return text.slice(0, at) + text.slice(at, at + length) + text.slice(at);
    }
    case 4: {
      const length = 1 + Math.floor(next() * 12);
      return text.slice(0, at) + text.slice(at + length);
    }
    default:
      return text.slice(0, at) + String(Math.floor(next() * 10)) + text.slice(at);
  }
}

describe('hmac-auth: the usual Signature-Input shape without the general parser', () => {
  it('takes the usual shape, with the same result as the parser', () => {
    for (const [input, field] of USUAL) assert.ok(check(input, field), `not taken: ${input} / ${field}`);
    const found = findHmacSignature(BENCH, SIG);
    assert.equal(found.kind, 'found');
    if (found.kind === 'found') {
      assert.equal(found.signature.nonce, 'Zm9vYmFy-_x');
      assert.equal(found.signature.created, 1795437392);
      assert.equal(found.signature.signatureParams, BENCH.slice('sig1='.length));
    }
  });

  it('leaves everything else to the parser, with the same result', () => {
    for (const [input, field] of UNUSUAL) assert.equal(check(input, field), false, `taken: ${JSON.stringify(input)} / ${JSON.stringify(field)}`);
  });

  it('agrees with the parser on 40,000 random mutations of valid fields', () => {
    const next = random(0x9e3779b9);
    let taken = 0;
    let changedAndTaken = 0;
    for (let i = 0; i < 40_000; i++) {
      const [input, field] = USUAL[i % USUAL.length]!;
      let mutatedInput = input;
      let mutatedField = field;
      const rounds = 1 + Math.floor(next() * 3);
      for (let r = 0; r < rounds; r++) {
        if (next() < 0.75) mutatedInput = mutate(mutatedInput, next);
        else mutatedField = mutate(mutatedField, next);
      }
      if (check(mutatedInput, mutatedField)) {
        taken++;
        if (mutatedInput !== input || mutatedField !== field) changedAndTaken++;
      }
    }
    // both sides of the fast path are exercised, not just its refusals
    assert.ok(taken > 1000, `usual path taken ${taken} times`);
    assert.ok(changedAndTaken > 1000, `usual path taken on ${changedAndTaken} changed fields`);
  });

  it('reads a list start it has just read again (the remembered one) exactly as the parser does, whatever comes between', () => {
    // requests of different clients interleaved: each list start alone, then as the prefix of
    // a longer or different list, with and without parameters, and malformed after the `)`
    const starts = ['sig1=("@method" "@authority" "@path")', 'sig1=("@method" "@path")', 'sig1=()', 'sig2=("@method" "@authority" "@path")'];
    const tails = [';created=1795437392;keyid="k";alg="hmac-sha256";nonce="n1"', ';keyid="k"', ';created=1;keyid="k2"', 'x;keyid="k"', ' ;keyid="k"', ';keyid="k",sig9=()', ''];
    const inners = ['', ' "@query"', ';req', ' "content-digest"'];
    const field = (input: string) => `${input.slice(0, input.indexOf('='))}=:${Buffer.alloc(32, 7).toString('base64')}:`;
    let compared = 0;
    for (let round = 0; round < 3; round++) {
      for (const start of starts) {
        for (const inner of inners) {
          const list = inner === '' ? start : `${start.slice(0, -1)}${inner})`;
          for (const tail of tails) {
            const input = list + tail;
            const usual = findUsualHmacSignature(input, field(input));
            const parsed = findHmacSignatureParsed(input, field(input));
            if (usual !== undefined) assert.deepEqual(usual, parsed, input);
            assert.deepEqual(findHmacSignature(input, field(input)), parsed, input);
            compared++;
          }
        }
      }
    }
    assert.equal(compared, 3 * starts.length * inners.length * tails.length);
  });

  it('builds the same signature base for the same list on every request, and another for another request', () => {
    const input = BENCH;
    const msg = (path: string, authority = '127.0.0.1:8080'): SignedMessage => ({ method: 'POST', scheme: 'http', authority, path, query: 'a=1', field: () => undefined });
    const first = findUsualHmacSignature(input, SIG);
    const second = findUsualHmacSignature(input.replace('Zm9vYmFy-_x', 'other-nonce'), SIG);
    assert.ok(first?.kind === 'found' && second?.kind === 'found');
    // the list is read once and shared; the base still follows each request
    assert.equal(first.signature.input.items, second.signature.input.items);
    // and frozen: no request can change what the next one reads
    assert.throws(() => first.signature.input.items.push({ value: '@query', params: new Map() }), TypeError);
    assert.throws(() => Object.assign(first.signature.input.items[0]!, { value: '@scheme' }), TypeError);
    assert.equal(second.signature.input.items.length, 3);
    const parsed = findHmacSignatureParsed(input, SIG);
    assert.ok(parsed.kind === 'found');
    for (const [path, authority] of [['/a', 'EXAMPLE.com:80'], ['', 'h:8080'], ['/b%2Fc', 'h']] as const) {
      const expected = signatureBase(parsed.signature.input, msg(path, authority));
      assert.equal(signatureBase(first.signature.input, msg(path, authority), first.signature.signatureParams), expected);
      assert.equal(signatureBase(second.signature.input, msg(path, authority), second.signature.signatureParams), expected.replace('Zm9vYmFy-_x', 'other-nonce'));
    }
    // a component covered twice is refused every time, not only the first
    const twice = 'sig1=("@method" "@method");keyid="k"';
    const found = findUsualHmacSignature(twice, 'sig1=:AAAA:');
    assert.ok(found?.kind === 'found');
    for (let i = 0; i < 2; i++) assert.throws(() => signatureBase(found.signature.input, msg('/a')), /covered twice/);
  });

  it('verifies the same signature base either way (the text kept is the serialization)', () => {
    const secret = 'bench-hmac-secret';
    const msg: SignedMessage = {
      method: 'GET',
      scheme: 'http',
      authority: '127.0.0.1:8080',
      path: '/bench/echo',
      query: '',
      field: () => undefined,
    };
    const input = BENCH;
    const params = input.slice('sig1='.length);
    const base = `"@method": GET\n"@authority": 127.0.0.1:8080\n"@path": /bench/echo\n"@signature-params": ${params}`;
    const field = `sig1=:${createHmac('sha256', secret).update(base).digest('base64')}:`;
    const usual = findUsualHmacSignature(input, field);
    const parsed = findHmacSignatureParsed(input, field);
    assert.ok(usual?.kind === 'found' && parsed.kind === 'found');
    assert.equal(signatureBase(usual.signature.input, msg, usual.signature.signatureParams), base);
    assert.equal(signatureBase(parsed.signature.input, msg), base);
    assert.ok(verifyHmacSignature(usual.signature, msg, secret));
    assert.ok(verifyHmacSignature(parsed.signature, msg, secret));
    assert.equal(verifyHmacSignature(usual.signature, { ...msg, path: '/bench/other' }, secret), false);
  });
});
