// DESIGN "asks again when the policy's cookie section changes" (P27, P28): a decision made under one
// cookie version is not used under another. The banner comes back, blocked scripts stay blocked until the
// new choice, a page that was open during the change is asked again when the server refuses its stale
// decision (409), and the new choice expires what the old grant left behind.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  REPO, config, cookiesOf, decision, launch, startPactum, startSite, storedDecision, watchedContext, widget,
} from './helpers.mjs';

let pactum, site, browser, dataDir, policyDir;

before(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'pactum-e2e-data-'));
  policyDir = mkdtempSync(path.join(os.tmpdir(), 'pactum-e2e-policy-'));
  pactum = await startPactum({ dataDir });
  site = await startSite(() => pactum.url);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await site?.stop();
  await pactum?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(policyDir, { recursive: true, force: true });
});

test('a changed cookie list asks again, keeps the old grant from running, and a stale decision is refused', async () => {
  const v1 = await config(pactum.url);
  const { ctx, seen } = await watchedContext(browser);
  const page = await ctx.newPage();
  await page.goto(site.url);
  let w = widget(page, v1);
  await w.banner.waitFor();
  const first = await decision(page, () => w.accept.click());
  assert.equal(first.status, 201);
  await page.waitForFunction(() => window.statsRan === true && window.marketingRan === true);
  assert.deepEqual((await storedDecision(ctx, v1.consent_cookie)).g, ['statistics', 'marketing']);

  // The same server restarts, on the same address, with a policy in which one cookie's lifetime changed.
  const bundled = readFileSync(path.join(REPO, 'policy/metier.toml'), 'utf8');
  const changed = bundled.replace(/(\[cookies\.partner_ads\][^[]*?lifetime = )(\d+)/, (_, head, days) => `${head}${Number(days) + 1}`);
  assert.notEqual(changed, bundled, 'the policy copy differs');
  const policy = path.join(policyDir, 'metier-changed.toml');
  writeFileSync(policy, changed);
  const port = new URL(pactum.url).port;
  await pactum.stop({ keepData: true });
  pactum = await startPactum({ dataDir, policy, port });
  const v2 = await config(pactum.url);
  assert.notEqual(v2.cookie_version, v1.cookie_version, 'the cookie version follows the cookie list');

  // The page that is still open tries to save under the old version: refused, and the visitor is asked again.
  await w.fab.click();
  await w.settings.waitFor();
  const refused = await decision(page, () => w.save.click());
  assert.equal(refused.status, 409);
  assert.equal(refused.request.cookie_version, v1.cookie_version);
  w = widget(page, v2);
  await w.banner.waitFor();
  assert.equal(await page.evaluate(() => window.PactumConsent.get()), null, 'no valid decision under the new version');

  // A new page load with the old cookie asks again, and the old grant runs nothing.
  await page.reload();
  await w.banner.waitFor();
  assert.deepEqual(await page.evaluate(() => [!!window.statsRan, !!window.statsSrcRan, !!window.marketingRan]), [false, false, false]);
  assert.equal(await page.evaluate(() => window.PactumConsent.get()), null);

  // Rejecting now records under the new version and expires what the old grant left behind.
  const second = await decision(page, () => w.reject.click());
  assert.equal(second.status, 201);
  assert.equal(second.request.cookie_version, v2.cookie_version);
  assert.equal(second.body.cookie_version, v2.cookie_version);
  assert.equal(second.request.device_id, first.request.device_id, 'the device keeps its id');
  await w.banner.waitFor({ state: 'hidden' });
  const stored = await storedDecision(ctx, v2.consent_cookie);
  assert.equal(stored.v, v2.cookie_version);
  assert.deepEqual(stored.g, []);
  const names = (await ctx.cookies()).map((c) => c.name);
  for (const n of [...cookiesOf(v2, 'statistics'), ...cookiesOf(v2, 'marketing')]) assert.ok(!names.includes(n), `${n} is expired`);
  assert.deepEqual(seen.errors, []);
  await ctx.close();
});
