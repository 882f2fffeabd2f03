// The widget stays small and CSP-clean: at most 8 KB gzipped for script and stylesheet together, and no
// eval, no inline styles, no innerHTML, no address of anyone else.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ASSETS } from './helpers.mjs';

const js = readFileSync(path.join(ASSETS, 'consent.js'));
const css = readFileSync(path.join(ASSETS, 'consent.css'));

test('consent.js and consent.css together are at most 8192 bytes gzipped', () => {
  const size = gzipSync(js, { level: 9 }).length + gzipSync(css, { level: 9 }).length;
  console.log(`consent.js + consent.css gzipped: ${size} bytes`);
  assert.ok(size <= 8192, `${size} bytes gzipped is over the 8192-byte budget`);
});

test('consent.js uses no eval, no inline styles and no other origin', () => {
  const src = js.toString('utf8');
  for (const [what, pattern] of [
    ['eval', /\beval\s*\(/], ['new Function', /new\s+Function\s*\(/], ['string timers', /set(Timeout|Interval)\(\s*['"`]/],
    ['element.style', /\.style\b/], ['style attribute', /['"]style['"]/], ['innerHTML', /innerHTML|outerHTML|insertAdjacentHTML|document\.write/],
  ]) assert.doesNotMatch(src, pattern, `consent.js must not use ${what}`);
  const urls = src.match(/https?:\/\/[^\s'"`)]+/g) || [];
  assert.deepEqual(urls.filter((u) => u !== 'http://www.w3.org/2000/svg'), [], 'no hard-coded address but the SVG namespace');
});
