// P27 and invariant 7 on Pactum's own pages: the widget runs under the strict CSP (its stylesheet comes
// from Pactum, nothing inline), speaks the page language, and its cookie button is at the bottom left of
// every page, including the not-found page.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ASSETS, config, decision, launch, necessaryCookies, startPactum, watchedContext, widget } from './helpers.mjs';

let pactum, browser;

before(async () => {
  pactum = await startPactum();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await pactum?.stop();
});

test('Pactum serves the widget that is in the work tree, loadable by any site', async () => {
  for (const [file, type] of [['consent.js', 'text/javascript'], ['consent.css', 'text/css']]) {
    const res = await fetch(`${pactum.url}/${file}`);
    assert.equal(res.status, 200, `GET /${file}`);
    assert.ok((res.headers.get('content-type') || '').startsWith(type), `${file} is served as ${type}`);
    assert.equal(await res.text(), readFileSync(path.join(ASSETS, file), 'utf8'), `${file} is the asset in the work tree`);
    const corp = res.headers.get('cross-origin-resource-policy');
    assert.ok(!corp || corp === 'cross-origin', `other sites may load ${file} (Cross-Origin-Resource-Policy: ${corp})`);
    assert.equal(res.headers.get('set-cookie'), null);
  }
});

const PAGES = [['/', 'da'], ['/en', 'en'], ['/privatliv', 'da'], ['/en/privacy', 'en'], ['/nyhedsbrev', 'da'], ['/en/newsletter', 'en'],
  ['/mine-data', 'da'], ['/en/my-data', 'en'], ['/findes-ikke', 'da'], ['/en/no-such-page', 'en']];

test('P27: the cookie button is at the bottom left of every Pactum page and opens the current state', async () => {
  const cfg = { da: await config(pactum.url, 'da'), en: await config(pactum.url, 'en') };
  const { ctx, seen } = await watchedContext(browser, { viewport: { width: 1024, height: 700 } });
  const page = await ctx.newPage();
  const origin = new URL(pactum.url).origin;

  // The first visit asks; the visitor rejects.
  await page.goto(`${pactum.url}/`);
  const first = widget(page, cfg.da);
  await first.banner.waitFor();
  const d = await decision(page, () => first.reject.click());
  assert.equal(d.status, 201);
  await first.banner.waitFor({ state: 'hidden' });

  // The catalogue and an order form, found the way a visitor finds them.
  const course = await (await fetch(`${pactum.url}/kurser/prince2-foundation`)).text();
  const orderForm = /href="(\/kurser\/[^"]+\/bestil\/[^"]+)"/.exec(course)[1];
  for (const [p, lang] of [...PAGES, ['/kurser', 'da'], ['/en/courses', 'en'], [orderForm, 'da']]) {
    const response = await page.goto(`${pactum.url}${p}`);
    assert.ok(response.status() === 200 || response.status() === 404, `${p}: ${response.status()}`);
    const w = widget(page, cfg[lang]);
    await w.fab.waitFor({ timeout: 10_000 });
    const box = await w.fab.boundingBox();
    const vp = page.viewportSize();
    assert.ok(box.x >= 0 && box.x <= 40, `${p}: left edge at ${box.x}`);
    assert.ok(box.y + box.height <= vp.height && vp.height - (box.y + box.height) <= 40, `${p}: bottom edge at ${box.y + box.height}`);
    // It is on top: the point at its centre belongs to the button.
    const onTop = await w.fab.evaluate((b) => {
      const r = b.getBoundingClientRect();
      return b.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2));
    });
    assert.ok(onTop, `${p}: the cookie button is not covered`);
    assert.equal(await w.banner.isVisible(), false, `${p}: a made choice is not asked again`);
    await w.fab.click();
    await w.settings.waitFor();
    assert.equal(await w.box('statistics').isChecked(), false, `${p}: shows the current state`);
    assert.ok((await w.settings.innerText()).includes(d.body.receipt_id), `${p}: shows the last receipt`);
    await page.keyboard.press('Escape');
    await w.settings.waitFor({ state: 'hidden' });
    // The stylesheet applied: the button is fixed, which only consent.css makes it.
    assert.equal(await w.fab.evaluate((b) => getComputedStyle(b).position), 'fixed');
  }

  for (const url of seen.requests) assert.equal(new URL(url).origin, origin, `request to another origin: ${url}`);
  const allowed = necessaryCookies(cfg.da);
  for (const h of seen.setCookies) assert.ok(allowed.has(h.split('=')[0].trim()), `Set-Cookie ${h}`);
  assert.deepEqual(seen.errors, [], 'no script error and no CSP violation');
  await ctx.close();
});
