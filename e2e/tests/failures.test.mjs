// When Pactum cannot be reached or refuses a decision, nothing is consented: no banner without texts, no
// cookie, blocked scripts stay blocked, and a refused choice says why and keeps asking.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { config, decision, launch, startPactum, startSite, watchedContext, widget } from './helpers.mjs';

let pactum, site, browser, cfg;

before(async () => {
  pactum = await startPactum();
  site = await startSite(() => pactum.url);
  browser = await launch();
  cfg = await config(pactum.url, 'da');
});
after(async () => {
  await browser?.close();
  await site?.stop();
  await pactum?.stop();
});

const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

test('an unreachable Pactum server: nothing is shown, no cookie is set, scripts stay blocked', async () => {
  const dead = `http://127.0.0.1:${await freePort()}`;
  const { ctx } = await watchedContext(browser);
  const page = await ctx.newPage();
  await page.goto(`${site.url}/?server=${encodeURIComponent(dead)}`);
  await page.waitForFunction(() => typeof window.PactumConsent === 'object');
  await page.waitForTimeout(1500);
  assert.equal(await page.locator('#pactum-consent').count(), 0, 'no widget without the server\'s texts');
  assert.equal(await page.evaluate(() => window.PactumConsent.get()), null);
  assert.deepEqual(await ctx.cookies(), []);
  assert.equal(await page.evaluate(() => window.statsRan || window.statsSrcRan || window.marketingRan), undefined);
  await ctx.close();
});

test('a rate-limited choice shows the server\'s message, stores nothing and keeps asking', async () => {
  const { ctx } = await watchedContext(browser);
  const page = await ctx.newPage();
  await page.goto(site.url);
  const w = widget(page, cfg);
  await w.banner.waitFor();

  // Use up this address's allowance (bounded: the server's limit is per minute).
  let status = 0;
  for (let i = 0; i < 1000 && status !== 429; i++) {
    const res = await fetch(`${pactum.url}/consent/decisions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ device_id: `device-${String(i).padStart(20, '0')}`, granted: [], method: 'click', cookie_version: cfg.cookie_version }),
    });
    status = res.status;
    await res.arrayBuffer();
  }
  assert.equal(status, 429, 'the server rate-limits decisions');

  const d = await decision(page, () => w.accept.click());
  assert.equal(d.status, 429);
  const alert = w.banner.getByRole('alert');
  await alert.waitFor();
  assert.equal((await alert.innerText()).trim(), d.body.message, 'the server\'s own words, in the page language');
  assert.ok(await w.banner.isVisible(), 'still asking');
  assert.deepEqual(await ctx.cookies(), []);
  assert.equal(await page.evaluate(() => window.statsRan || window.marketingRan), undefined);
  await ctx.close();
});
