// QR codes as SVG: well-formed XML with a background rect and one path, drawing exactly the
// dark modules of the symbol (with the 4-module quiet zone), the title escaped.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import QRCode from 'qrcode';
import { qrSvg } from '../../src/auth/mfa/qr.js';
import { totpUri } from '../../src/auth/mfa/totp.js';

/** A small well-formedness check: balanced tags, quoted attributes, escaped text, one root. */
function assertWellFormedXml(xml: string): Array<{ name: string; attrs: Record<string, string> }> {
  const elements: Array<{ name: string; attrs: Record<string, string> }> = [];
  const stack: string[] = [];
  let rest = xml;
  let roots = 0;
  while (rest.length > 0) {
    const text = /^[^<]*/.exec(rest)![0];
    assert.ok(!/&(?!#\d+;|amp;|lt;|gt;|quot;|apos;)/.test(text), `bad entity in ${JSON.stringify(text)}`);
    rest = rest.slice(text.length);
    if (rest === '') break;
    const close = /^<\/([A-Za-z][\w:-]*)\s*>/.exec(rest);
    if (close) {
      assert.equal(stack.pop(), close[1], `</${close[1]}> closes the wrong element`);
      rest = rest.slice(close[0].length);
      continue;
    }
    const open = /^<([A-Za-z][\w:-]*)((?:\s+[A-Za-z][\w:-]*="[^"<&]*(?:&#\d+;[^"<&]*)*")*)\s*(\/?)>/.exec(rest);
    assert.ok(open, `not a tag at ${JSON.stringify(rest.slice(0, 40))}`);
    const attrs: Record<string, string> = {};
    for (const m of open[2]!.matchAll(/([A-Za-z][\w:-]*)="([^"]*)"/g)) {
      assert.ok(!(m[1]! in attrs), `duplicate attribute ${m[1]}`);
      attrs[m[1]!] = m[2]!;
    }
    if (stack.length === 0) roots++;
    elements.push({ name: open[1]!, attrs });
    if (open[3] !== '/') stack.push(open[1]!);
    rest = rest.slice(open[0].length);
  }
  assert.deepEqual(stack, [], 'unclosed elements');
  assert.equal(roots, 1, 'exactly one root element');
  return elements;
}

/** The dark modules the path draws, as a set of "x,y". */
function modulesOfPath(d: string): Set<string> {
  const dark = new Set<string>();
  for (const m of d.matchAll(/M(\d+) (\d+)h(\d+)v1h-(\d+)z/g)) {
    const [x, y, w] = [Number(m[1]), Number(m[2]), Number(m[3])];
    assert.equal(Number(m[4]), w);
    for (let i = 0; i < w; i++) dark.add(`${x + i},${y}`);
  }
  assert.equal(d.replace(/M\d+ \d+h\d+v1h-\d+z/g, ''), '', 'only run subpaths');
  return dark;
}

describe('qrSvg', () => {
  const uri = totpUri({ secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', account: 'alice@example.com', issuer: 'Drawbridge' });

  it('is a well-formed SVG document with a background rect and a path', () => {
    const svg = qrSvg(uri, { title: 'Scan <this> & "that"' });
    const elements = assertWellFormedXml(svg);
    assert.deepEqual(
      elements.map((e) => e.name),
      ['svg', 'title', 'rect', 'path'],
    );
    const root = elements[0]!;
    assert.equal(root.attrs.xmlns, 'http://www.w3.org/2000/svg');
    assert.match(root.attrs.viewBox!, /^0 0 (\d+) \1$/);
    assert.ok(svg.includes('<title>Scan &#60;this&#62; &#38; &#34;that&#34;</title>'));
    assert.ok(!svg.includes('http://') || svg.indexOf('http://') === svg.indexOf('http://www.w3.org/2000/svg'), 'no external references');
  });

  it('draws exactly the dark modules of the symbol inside a 4-module quiet zone', () => {
    const svg = qrSvg(uri);
    const { modules } = QRCode.create(uri, { errorCorrectionLevel: 'M' });
    const size = modules.size;
    assert.match(svg, new RegExp(`viewBox="0 0 ${size + 8} ${size + 8}"`));
    const d = /<path fill="#000" d="([^"]*)"\/>/.exec(svg)![1]!;
    const drawn = modulesOfPath(d);
    const expected = new Set<string>();
    for (let row = 0; row < size; row++) {
      for (let col = 0; col < size; col++) if (modules.get(row, col)) expected.add(`${col + 4},${row + 4}`);
    }
    assert.deepEqual(drawn, expected);
    // the three finder patterns: 7×7 dark borders at the top-left, top-right and bottom-left
    for (const [x, y] of [[4, 4], [size - 3, 4], [4, size - 3]] as const) {
      for (let i = 0; i < 7; i++) {
        assert.ok(drawn.has(`${x + i},${y}`) && drawn.has(`${x},${y + i}`), `finder at ${x},${y}`);
      }
    }
  });

  it('is deterministic and grows with the content', () => {
    assert.equal(qrSvg('hello'), qrSvg('hello'));
    const small = /viewBox="0 0 (\d+)/.exec(qrSvg('hello'))![1];
    const large = /viewBox="0 0 (\d+)/.exec(qrSvg(uri))![1];
    assert.ok(Number(large) > Number(small));
  });
});
