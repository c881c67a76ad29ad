// Summarises a V8 .cpuprofile (as written by `BENCH_PROFILE=1 npm run bench`):
// self time by function, inclusive time of Drawbridge's own functions (src/), and
// self time grouped by package.
//   node dist/bench/profile-summary.js FILE.cpuprofile [TOP]
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile [TOP]\n');
  process.exit(2);
}
const top = Number(process.argv[3] ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map<number, ProfileNode>();
const parent = new Map<number, number>();
for (const n of profile.nodes) {
  byId.set(n.id, n);
  for (const c of n.children ?? []) parent.set(c, n.id);
}

function where(cf: CallFrame): string {
  const url = cf.url.replace(/^file:\/\//, '');
  const m = /\/(dist\/(?:src|bench)\/.*)$/.exec(url) ?? /node_modules\/(.*)$/.exec(url);
  const short = m ? m[1]! : url === '' ? '(native)' : url.startsWith('node:') ? url : url.split('/').slice(-2).join('/');
  return `${short}:${cf.lineNumber + 1}`;
}
const key = (cf: CallFrame) => `${cf.functionName || '(anonymous)'}  ${where(cf)}`;

function group(cf: CallFrame): string {
  const url = cf.url;
  if (url === '') return cf.functionName.startsWith('(') ? cf.functionName : '(native/builtin)';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const src = /\/dist\/(src\/[^/]+|bench)/.exec(url);
  if (src) return src[1]!;
  return url;
}

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const groups = new Map<string, number>();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  let id: number | undefined = profile.samples[i]!;
  const leaf = byId.get(id)!;
  self.set(key(leaf.callFrame), (self.get(key(leaf.callFrame)) ?? 0) + dt);
  groups.set(group(leaf.callFrame), (groups.get(group(leaf.callFrame)) ?? 0) + dt);
  const seen = new Set<string>();
  while (id !== undefined) {
    const n = byId.get(id)!;
    if (/\/dist\/src\//.test(n.callFrame.url)) {
      const k = key(n.callFrame);
      if (!seen.has(k)) {
        seen.add(k);
        inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
      }
    }
    id = parent.get(id);
  }
}

const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
const busy = total - idle;
const pct = (v: number) => ((v / busy) * 100).toFixed(1).padStart(5) + '%';
const print = (title: string, m: Map<string, number>, n: number) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, n)) {
    console.log(`  ${pct(v)}  ${k}`);
  }
};
console.log(`${file}\n  ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (percentages are of busy time)`);
print('self time by package/area', groups, 20);
print('self time by function', self, top);
print('inclusive time, Drawbridge functions (dist/src)', inclusive, top);
