// P27 and P28 on a partner site: each category on its own, script blocking, receipts, the cookie button,
// and withdrawal (new receipt, revoked cookies expired, page reloaded so the script no longer runs).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  config, cookiesOf, decision, launch, receipt, startPactum, startSite, storedDecision, watchedContext, widget,
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

const names = async (ctx) => (await ctx.cookies()).map((c) => c.name).sort();
const ran = (page) => page.evaluate(() => ({ stats: !!window.statsRan, statsSrc: !!window.statsSrcRan, marketing: !!window.marketingRan }));

describe('one visitor changes their mind', () => {
  let ctx, page, w, firstReceipt;

  before(async () => {
    ({ ctx } = await watchedContext(browser));
    page = await ctx.newPage();
    w = widget(page, cfg);
  });
  after(() => ctx?.close());

  test('P28 and script blocking: statistics alone is granted, its scripts run, the receipt says so', async () => {
    await page.goto(site.url);
    await w.banner.waitFor();
    assert.deepEqual(await ran(page), { stats: false, statsSrc: false, marketing: false }, 'blocked before consent');
    await w.openSettings.click();
    await w.settings.waitFor();
    await w.box('statistics').check();
    const d = await decision(page, () => w.save.click());
    assert.equal(d.status, 201, JSON.stringify(d.body));
    assert.deepEqual(d.request.granted, ['statistics']);
    await page.waitForFunction(() => window.statsRan === true && window.statsSrcRan === true);
    assert.equal((await ran(page)).marketing, false, 'marketing scripts stay blocked');
    assert.ok(await w.fab.isVisible());
    assert.equal(await w.banner.isVisible(), false);

    const cookieNames = await names(ctx);
    assert.ok(cookieNames.includes('pactum_stats'), 'the statistics script ran and set its cookie');
    for (const n of cookiesOf(cfg, 'marketing')) assert.ok(!cookieNames.includes(n), `no marketing cookie ${n}`);

    firstReceipt = d.body.receipt_id;
    const r = await receipt(pactum.url, firstReceipt);
    assert.equal(r.receipt_id, firstReceipt);
    assert.deepEqual([...r.granted].sort(), ['necessary', 'statistics']);
    assert.equal(r.collection_method, 'click');
    assert.equal(r.policy_version, cfg.policy_version);
    assert.equal(r.cookie_version, cfg.cookie_version);
    assert.ok(!Number.isNaN(Date.parse(r.consent_timestamp)), 'the receipt carries its time');
    assert.equal(Date.parse(r.consent_timestamp), Date.parse(d.body.recorded_at), 'the same time as the decision answer');
    assert.deepEqual(r.purposes.filter((p) => p.granted).map((p) => p.category), ['necessary', 'statistics']);
    const stored = await storedDecision(ctx, cfg.consent_cookie);
    assert.deepEqual(stored.g, ['statistics']);
    assert.equal(stored.r, firstReceipt);
    assert.equal(stored.v, cfg.cookie_version);
    const api = await page.evaluate(() => window.PactumConsent.get());
    assert.deepEqual(api.granted, ['necessary', 'statistics']);
    assert.equal(api.receipt_id, firstReceipt);

    // The grant holds on the next page load without asking again.
    await page.reload();
    await page.waitForFunction(() => window.statsRan === true);
    assert.equal(await w.banner.isVisible(), false);
  });

  test('P27: the cookie button sits bottom left and reopens the current state with the last receipt', async () => {
    const box = await w.fab.boundingBox();
    const vp = page.viewportSize();
    assert.ok(box.x <= 40 && box.x >= 0, `left edge at ${box.x}`);
    assert.ok(vp.height - (box.y + box.height) <= 40 && box.y + box.height <= vp.height, `bottom edge at ${box.y + box.height} of ${vp.height}`);
    await w.fab.click();
    await w.settings.waitFor();
    assert.equal(await w.box('statistics').isChecked(), true);
    assert.equal(await w.box('marketing').isChecked(), false);
    const text = await w.settings.innerText();
    assert.ok(text.includes(cfg.texts.receipt_label), 'the receipt label is shown');
    assert.ok(text.includes(firstReceipt), 'the last receipt id is shown');
  });

  test('P27/P28: switching statistics off and marketing on is a new receipt; statistics cookies are expired', async () => {
    await w.box('statistics').uncheck();
    await w.box('marketing').check();
    const reloaded = page.waitForEvent('load');
    const d = await decision(page, () => w.save.click());
    assert.equal(d.status, 201);
    assert.deepEqual(d.request.granted, ['marketing']);
    await reloaded; // statistics ran on this page and cannot be stopped, so the page reloads
    await page.waitForFunction(() => window.marketingRan === true);
    assert.deepEqual(await ran(page), { stats: false, statsSrc: false, marketing: true });
    const cookieNames = await names(ctx);
    for (const n of cookiesOf(cfg, 'statistics')) assert.ok(!cookieNames.includes(n), `statistics cookie ${n} is expired`);
    assert.ok(cookieNames.includes('partner_ads'));

    const stored = await storedDecision(ctx, cfg.consent_cookie);
    assert.notEqual(stored.r, firstReceipt, 'a change gets a new receipt');
    assert.deepEqual(stored.g, ['marketing']);
    const r = await receipt(pactum.url, stored.r);
    assert.deepEqual([...r.granted].sort(), ['marketing', 'necessary']);
    assert.equal(r.policy_version, cfg.policy_version);
    assert.equal(r.cookie_version, cfg.cookie_version);
    const old = await receipt(pactum.url, firstReceipt);
    assert.deepEqual([...old.granted].sort(), ['necessary', 'statistics'], 'the earlier receipt is unchanged');
  });

  test('PactumConsent.open() opens the settings for a site\'s own link; withdrawing everything expires marketing cookies', async () => {
    await page.evaluate(() => window.PactumConsent.open());
    await w.settings.waitFor();
    assert.equal(await w.box('marketing').isChecked(), true);
    assert.equal(await w.box('statistics').isChecked(), false);
    await w.box('marketing').uncheck();
    const reloaded = page.waitForEvent('load');
    const d = await decision(page, () => w.save.click());
    assert.deepEqual(d.request.granted, []);
    await reloaded;
    await w.fab.waitFor();
    assert.deepEqual(await ran(page), { stats: false, statsSrc: false, marketing: false });
    assert.deepEqual(await names(ctx), [cfg.consent_cookie]);
  });
});
