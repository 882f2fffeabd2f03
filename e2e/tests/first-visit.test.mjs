// P26, P29, keyboard use and axe-core on a partner site that embeds the widget from another origin.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import {
  config, decision, focusInside, launch, necessaryCookies, startPactum, startSite, storedDecision, watchedContext, widget,
} from './helpers.mjs';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
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

const optionalKeys = () => cfg.categories.filter((c) => !c.required).map((c) => c.key);
const allowedOrigins = () => new Set([site.origin, new URL(pactum.url).origin]);
const assertNecessaryOnly = (setCookies) => {
  const allowed = necessaryCookies(cfg);
  for (const header of setCookies) {
    const name = header.split('=')[0].trim();
    assert.ok(allowed.has(name), `Set-Cookie ${name} is not on the necessary allow-list`);
  }
};

test('P26: a fresh browser is asked, with three equal buttons, and gets no cookie, storage or third-party request', async () => {
  const { ctx, seen } = await watchedContext(browser);
  const page = await ctx.newPage();
  await page.goto(site.url);
  const w = widget(page, cfg);
  await w.banner.waitFor();
  for (const b of [w.accept, w.reject, w.openSettings]) assert.ok(await b.isVisible());

  // Equally prominent: same class, same computed look, same size.
  const looks = await Promise.all([w.accept, w.reject, w.openSettings].map((b) => b.evaluate((e) => {
    const s = getComputedStyle(e);
    const r = e.getBoundingClientRect();
    const props = ['font-size', 'font-weight', 'color', 'background-color', 'border-top-width', 'border-top-color',
      'border-radius', 'padding-top', 'padding-left', 'text-decoration-line'];
    return { cls: e.className, width: Math.round(r.width), height: Math.round(r.height), look: props.map((p) => s.getPropertyValue(p)).join(' | ') };
  })));
  assert.deepEqual(looks[1], looks[0], 'Reject looks like Accept');
  assert.deepEqual(looks[2], looks[0], 'Settings looks like Accept');

  // Scrolling, clicking elsewhere and Escape are not consent.
  await page.mouse.wheel(0, 3000);
  await page.mouse.click(1200, 40);
  await page.keyboard.press('Escape');
  await page.waitForTimeout(300);
  assert.ok(await w.banner.isVisible(), 'the first layer stays until a choice is made');

  // Nothing is pre-ticked; necessary is shown as always on.
  await w.openSettings.click();
  await w.settings.waitFor();
  for (const key of optionalKeys()) assert.equal(await w.box(key).isChecked(), false, `${key} is not pre-ticked`);
  const necessary = w.box('necessary');
  assert.equal(await necessary.isChecked(), true);
  assert.equal(await necessary.isDisabled(), true);
  await page.keyboard.press('Escape');
  await w.banner.waitFor();
  assert.equal(await w.settings.isVisible(), false);

  assert.deepEqual(await ctx.cookies(), [], 'no cookie at all before a choice');
  const storage = await page.evaluate(async () => ({
    local: localStorage.length,
    session: sessionStorage.length,
    idb: indexedDB.databases ? (await indexedDB.databases()).length : 0,
  }));
  assert.deepEqual(storage, { local: 0, session: 0, idb: 0 });
  assert.equal(await page.evaluate(() => window.statsRan || window.statsSrcRan || window.marketingRan), undefined);

  const allowed = allowedOrigins();
  for (const url of seen.requests) assert.ok(allowed.has(new URL(url).origin), `request to another origin: ${url}`);
  assert.ok(!seen.requests.some((u) => u.includes('/consent/decisions')), 'no decision is logged before a choice');
  assertNecessaryOnly(seen.setCookies);
  assert.deepEqual(seen.errors, []);
  await ctx.close();
});

test('the widget speaks the page language (English page, English texts)', async () => {
  const en = await config(pactum.url, 'en');
  assert.notEqual(en.texts.title, cfg.texts.title, 'the server has distinct English texts');
  const { ctx } = await watchedContext(browser);
  const page = await ctx.newPage();
  await page.goto(`${site.url}/?lang=en`);
  const w = widget(page, en);
  await w.banner.waitFor();
  assert.ok(await w.accept.isVisible());
  await ctx.close();
});

test('P29: after Reject only the necessary consent cookie exists, and no blocked script runs', async () => {
  const { ctx, seen } = await watchedContext(browser);
  const page = await ctx.newPage();
  await page.goto(site.url);
  const w = widget(page, cfg);
  await w.banner.waitFor();
  const d = await decision(page, () => w.reject.click());
  assert.equal(d.status, 201, JSON.stringify(d.body));
  assert.deepEqual(d.request.granted, []);
  assert.equal(d.request.method, 'click');
  assert.equal(d.request.cookie_version, cfg.cookie_version);
  assert.match(d.request.device_id, /^[A-Za-z0-9_-]{22,64}$/);
  await w.banner.waitFor({ state: 'hidden' });

  const cookies = await ctx.cookies();
  assert.deepEqual(cookies.map((c) => c.name), [cfg.consent_cookie]);
  assert.ok(necessaryCookies(cfg).has(cfg.consent_cookie), 'the consent cookie is itself declared necessary');
  const c = cookies[0];
  assert.equal(c.path, '/');
  assert.equal(c.sameSite, 'Lax');
  const days = (c.expires * 1000 - Date.now()) / 86_400_000;
  assert.ok(Math.abs(days - cfg.consent_cookie_days) < 1, `the cookie lives ${days} days`);
  const stored = await storedDecision(ctx, cfg.consent_cookie);
  assert.deepEqual(stored, { v: cfg.cookie_version, g: [], r: d.body.receipt_id, d: d.request.device_id });

  await page.reload();
  await w.fab.waitFor();
  await page.waitForTimeout(300);
  assert.equal(await w.banner.isVisible(), false, 'a made choice is not asked again');
  assert.deepEqual((await ctx.cookies()).map((k) => k.name), [cfg.consent_cookie]);
  assert.equal(await page.evaluate(() => window.statsRan || window.statsSrcRan || window.marketingRan), undefined);
  assertNecessaryOnly(seen.setCookies);
  assert.deepEqual(seen.errors, []);
  await ctx.close();
});

test('keyboard only: focus moves into the dialog and stays there, Enter chooses, Escape leaves settings', async () => {
  const { ctx } = await watchedContext(browser);
  const page = await ctx.newPage();
  await page.goto(site.url);
  const w = widget(page, cfg);
  await w.banner.waitFor();
  const bannerId = await w.banner.getAttribute('id');
  assert.equal(await focusInside(page), bannerId, 'focus moved into the first layer');

  const label = () => page.evaluate(() => {
    const a = document.activeElement;
    return (a.labels && a.labels[0] ? a.labels[0].textContent : a.getAttribute('aria-label') || a.textContent).trim();
  });
  const reached = new Set();
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press('Tab');
    assert.equal(await focusInside(page), bannerId, `Tab ${i + 1} stays in the dialog`);
    reached.add(await label());
  }
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press('Shift+Tab');
    assert.equal(await focusInside(page), bannerId, `Shift+Tab ${i + 1} stays in the dialog`);
  }
  for (const t of [cfg.texts.accept_all, cfg.texts.reject_all, cfg.texts.settings]) assert.ok(reached.has(t), `Tab reaches ${t}`);

  // A visible focus outline on the focused button.
  const tabTo = async (text) => {
    for (let i = 0; i < 20 && (await label()) !== text; i++) await page.keyboard.press('Tab');
    assert.equal(await label(), text);
  };
  await tabTo(cfg.texts.settings);
  const outline = await page.evaluate(() => {
    const s = getComputedStyle(document.activeElement);
    return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) };
  });
  assert.notEqual(outline.style, 'none');
  assert.ok(outline.width >= 2, 'the focus outline is at least 2px');

  await page.keyboard.press('Enter');
  await w.settings.waitFor();
  const settingsId = await w.settings.getAttribute('id');
  assert.equal(await focusInside(page), settingsId, 'focus moved into the settings layer');
  for (let i = 0; i < 25; i++) {
    await page.keyboard.press('Tab');
    assert.equal(await focusInside(page), settingsId, `Tab ${i + 1} stays in the settings layer`);
  }
  // Escape closes the settings layer, but without a choice the first layer comes back.
  await page.keyboard.press('Escape');
  await w.banner.waitFor();
  assert.equal(await w.settings.isVisible(), false);
  assert.equal(await focusInside(page), bannerId);
  assert.deepEqual(await ctx.cookies(), []);

  await tabTo(cfg.texts.settings);
  await page.keyboard.press('Enter');
  await w.settings.waitFor();
  const statistics = cfg.categories.find((c) => c.key === 'statistics').label;
  await tabTo(statistics);
  await page.keyboard.press('Space');
  assert.equal(await w.box('statistics').isChecked(), true);
  await tabTo(cfg.texts.save);
  const d = await decision(page, () => page.keyboard.press('Enter'));
  assert.equal(d.status, 201, JSON.stringify(d.body));
  assert.deepEqual(d.request.granted, ['statistics']);
  await w.settings.waitFor({ state: 'hidden' });
  await page.waitForFunction(() => window.statsRan === true);
  assert.equal(await label(), cfg.texts.button_label, 'focus returns to the cookie button');

  // The cookie button opens the settings by keyboard too, and Escape closes it now that a choice exists.
  await page.keyboard.press('Enter');
  await w.settings.waitFor();
  assert.equal(await w.box('statistics').isChecked(), true);
  await page.keyboard.press('Escape');
  await w.settings.waitFor({ state: 'hidden' });
  assert.equal(await w.banner.isVisible(), false);
  await ctx.close();
});

test('axe-core finds no serious or critical violation in the first layer or the settings layer', async () => {
  const { ctx } = await watchedContext(browser);
  const page = await ctx.newPage();
  await page.goto(site.url);
  const w = widget(page, cfg);
  await w.banner.waitFor();
  await page.addScriptTag({ path: AXE });
  const check = async (what) => {
    const result = await page.evaluate(() => window.axe.run('#pactum-consent', { resultTypes: ['violations'] }));
    const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`), [], what);
  };
  await check('first layer');
  await w.openSettings.click();
  await w.settings.waitFor();
  await check('settings layer');
  await ctx.close();
});
