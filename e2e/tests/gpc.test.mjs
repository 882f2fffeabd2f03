// Global Privacy Control: a browser that sends it gets an automatic "gpc" decision that grants nothing
// optional, is told so, can still switch statistics on by a click, and can never get marketing here.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  config, decision, launch, receipt, startPactum, startSite, storedDecision, watchedContext, widget,
} from './helpers.mjs';

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

const gpcContext = async () => {
  const watched = await watchedContext(browser, { extraHTTPHeaders: { 'Sec-GPC': '1' } });
  await watched.ctx.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true, configurable: true });
  });
  return watched;
};

test('GPC: the decision is recorded as "gpc" without marketing, the notice is shown, statistics can still be chosen', async () => {
  const { ctx, seen } = await gpcContext();
  const page = await ctx.newPage();
  const w = widget(page, cfg);
  const d = await decision(page, () => page.goto(site.url));
  assert.equal(d.status, 201, JSON.stringify(d.body));
  assert.equal(d.request.method, 'gpc');
  assert.deepEqual(d.request.granted, [], 'GPC grants nothing optional');
  assert.deepEqual(d.body.granted, ['necessary']);

  await w.banner.waitFor();
  const bannerText = await w.banner.innerText();
  assert.ok(bannerText.includes(cfg.texts.gpc_notice), 'the GPC notice is shown');
  assert.equal(await w.accept.count(), 0, 'there is no "accept all" that would override the signal');

  const r = await receipt(pactum.url, d.body.receipt_id);
  assert.equal(r.collection_method, 'gpc');
  assert.deepEqual(r.granted, ['necessary']);
  const stored = await storedDecision(ctx, cfg.consent_cookie);
  assert.deepEqual(stored.g, []);
  assert.equal(stored.r, d.body.receipt_id);
  assert.deepEqual((await ctx.cookies()).map((c) => c.name), [cfg.consent_cookie]);
  assert.equal(await page.evaluate(() => window.statsRan || window.marketingRan), undefined);

  // The notice closes (a decision exists), and is not shown again on the next page.
  await page.keyboard.press('Escape');
  await w.banner.waitFor({ state: 'hidden' });
  const decisions = () => seen.requests.filter((u) => u.includes('/consent/decisions')).length;
  assert.equal(decisions(), 1);
  await page.reload();
  await w.fab.waitFor();
  await page.waitForTimeout(300);
  assert.equal(await w.banner.isVisible(), false);
  assert.equal(decisions(), 1, 'no second automatic decision');

  // Settings: the notice again, marketing cannot be ticked, statistics can.
  await w.fab.click();
  await w.settings.waitFor();
  assert.ok((await w.settings.innerText()).includes(cfg.texts.gpc_notice));
  assert.equal(await w.box('marketing').isChecked(), false);
  assert.equal(await w.box('marketing').isDisabled(), true, 'marketing is refused while the browser sends GPC');
  assert.equal(await w.box('statistics').isChecked(), false);
  await w.box('statistics').check();
  const click = await decision(page, () => w.save.click());
  assert.equal(click.status, 201);
  assert.equal(click.request.method, 'click');
  assert.deepEqual(click.request.granted, ['statistics']);
  await page.waitForFunction(() => window.statsRan === true);
  assert.equal(await page.evaluate(() => window.marketingRan), undefined);
  const r2 = await receipt(pactum.url, click.body.receipt_id);
  assert.deepEqual(r2.granted, ['necessary', 'statistics']);
  await ctx.close();
});

test('GPC switched on after marketing was granted withdraws that grant, recorded as "gpc"', async () => {
  const { ctx } = await watchedContext(browser);
  const page = await ctx.newPage();
  const w = widget(page, cfg);
  await page.goto(site.url);
  await w.banner.waitFor();
  const all = await decision(page, () => w.accept.click());
  assert.deepEqual(all.body.granted, ['necessary', 'statistics', 'marketing']);
  await page.waitForFunction(() => window.marketingRan === true);

  // The visitor now turns Global Privacy Control on in the browser.
  await ctx.setExtraHTTPHeaders({ 'Sec-GPC': '1' });
  await ctx.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true, configurable: true });
  });
  const withdrawn = await decision(page, () => page.reload());
  assert.equal(withdrawn.request.method, 'gpc');
  assert.deepEqual(withdrawn.request.granted, ['statistics'], 'statistics stays as chosen');
  await w.banner.waitFor();
  assert.ok((await w.banner.innerText()).includes(cfg.texts.gpc_notice), 'the visitor is told why');
  await page.waitForFunction(() => window.statsRan === true);
  assert.equal(await page.evaluate(() => window.marketingRan), undefined, 'marketing scripts no longer run');
  assert.ok(!(await ctx.cookies()).some((c) => c.name === 'partner_ads'), "the marketing category's cookie is gone");
  const r = await receipt(pactum.url, withdrawn.body.receipt_id);
  assert.equal(r.collection_method, 'gpc');
  assert.equal(r.state, 'withdrawal');
  assert.deepEqual((await storedDecision(ctx, cfg.consent_cookie)).g, ['statistics']);
  await ctx.close();
});

test('without GPC no decision is made automatically', async () => {
  const { ctx, seen } = await watchedContext(browser);
  const page = await ctx.newPage();
  const w = widget(page, cfg);
  await page.goto(site.url);
  await w.banner.waitFor();
  await page.waitForTimeout(300);
  assert.ok(!seen.requests.some((u) => u.includes('/consent/decisions')));
  assert.ok(!(await w.banner.innerText()).includes(cfg.texts.gpc_notice));
  await ctx.close();
});
