// The staff admin UI in headless Chromium, from the first-admin link `pactum serve` prints on its first
// start: set-up with a TOTP code (RFC 6238, computed here), a refused and a keyboard-only login, every page
// of the menu checked with axe-core and for the cookie button at the bottom left, inviting a coordinator
// (the one-time link is shown once), and signing out (the session is gone on the server too). No page
// talks to another origin, and no script error or CSP violation happens.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { config, decision, launch, necessaryCookies, startPactum, watchedContext, widget } from './helpers.mjs';

// Pactum's CSP (script-src 'self') blocks page.addScriptTag; evaluating the source through the DevTools
// protocol is not subject to the page's CSP, so the pages are tested as served (as in signup.test.mjs).
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const PASSWORD = 'korrekt hest batteri hæfteklamme';
const COORDINATOR = 'kirsten.k';
const NAV = ['/admin/sessions', '/admin/catalogue', '/admin/staff', '/admin/api-tokens', '/admin/audit', '/admin/retention', '/admin/invoices', '/admin/disclosures', '/admin/notifications', '/admin/ropa', '/admin/incidents', '/admin/requests'];

// ---- RFC 6238 (TOTP: HMAC-SHA1, 30 s, 6 digits) with node:crypto ---------------------------------

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const bytes = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new Error(`not base32: ${JSON.stringify(ch)} in ${text}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

function hotp(key, counter, digits = 6) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

const totp = (key, unixSeconds = Date.now() / 1000, digits = 6) => hotp(key, Math.floor(unixSeconds / 30), digits);

// ---- shared state: one server, one browser, one staff member's browser context -------------------

let pactum, browser, cfg, setupUrl, totpKey, staff;

before(async () => {
  pactum = await startPactum();
  browser = await launch();
  cfg = await config(pactum.url, 'da');
  const m = await pactum.output(/Set up the first admin account `admin` within 72 hours: (http:\/\/\S+)/);
  setupUrl = m[1];
  staff = await watchedContext(browser, { viewport: { width: 1024, height: 700 } });
});
after(async () => {
  await staff?.ctx.close();
  await browser?.close();
  await pactum?.stop();
});

const origin = () => new URL(pactum.url).origin;
const mainText = (page) => page.locator('main').innerText();

/** Serious and critical axe-core violations on the page as it is now, one line each; the rest go to `minor`. */
async function axe(page, what, minor = []) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const found = [];
  for (const v of result.violations) {
    for (const n of v.nodes) {
      const line = `${what}: ${v.id} (${v.impact}) at ${n.target.join(' ')}: ${v.help} [${n.failureSummary?.replace(/\s+/g, ' ')}]`;
      (v.impact === 'serious' || v.impact === 'critical' ? found : minor).push(line);
    }
  }
  return found;
}

/** The widget's cookie button is at the bottom left, on top, and styled by consent.css (as on the public pages). */
async function assertCookieButton(page, what) {
  const w = widget(page, cfg);
  await w.fab.waitFor({ timeout: 10_000 });
  const box = await w.fab.boundingBox();
  const vp = page.viewportSize();
  assert.ok(box.x >= 0 && box.x <= 40, `${what}: the cookie button's left edge is at ${box.x}`);
  assert.ok(box.y + box.height <= vp.height && vp.height - (box.y + box.height) <= 40, `${what}: its bottom edge is at ${box.y + box.height}`);
  const onTop = await w.fab.evaluate((b) => {
    const r = b.getBoundingClientRect();
    return b.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2));
  });
  assert.ok(onTop, `${what}: the cookie button is not covered`);
  assert.equal(await w.fab.evaluate((b) => getComputedStyle(b).position), 'fixed', `${what}: consent.css applied`);
  assert.equal(await w.banner.isVisible(), false, `${what}: a made choice is not asked again`);
}

function assertSameOrigin(seen) {
  assert.ok(seen.requests.length > 0, 'requests were recorded');
  const foreign = seen.requests.filter((u) => new URL(u).origin !== origin());
  assert.deepEqual(foreign, [], `every request goes to ${origin()}`);
}

async function staffCookie(ctx) {
  return (await ctx.cookies()).find((c) => c.name === '__Host-pactum_session');
}

/** Where the keyboard focus is: the focused element's id, or its tag and text. */
const focused = (page) => page.evaluate(() => {
  const a = document.activeElement;
  return a ? (a.id || `${a.tagName.toLowerCase()}:${(a.textContent || '').trim()}`) : null;
});

// ---- the tests ---------------------------------------------------------------------------------

test('the TOTP code computed here matches RFC 6238 (appendix B, SHA-1)', () => {
  const key = Buffer.from('12345678901234567890');
  for (const [t, code] of [[59, '94287082'], [1111111109, '07081804'], [1234567890, '89005924'], [2000000000, '69279037']]) {
    assert.equal(totp(key, t, 8), code, `T=${t}`);
  }
  assert.deepEqual(base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'), key, 'base32');
});

test('pactum printed a first-admin link on its first start', () => {
  assert.match(pactum.stdout(), /^Pactum is serving on http:\/\/[0-9.:]+ \(privacy notice: /, 'the first line is unchanged');
  assert.match(setupUrl, new RegExp(`^${origin().replace(/[.]/g, '\\.')}/admin/setup/[0-9a-f]{64}$`), setupUrl);
});

test('the first admin sets up the account from the link: password and authenticator code', async (t) => {
  const { ctx } = staff;
  const found = [];
  const minor = [];
  const page = await ctx.newPage();
  const r = await page.goto(setupUrl);
  assert.equal(r.status(), 200, 'GET the set-up link');
  assert.equal(r.headers()['cache-control'], 'no-store', 'the page with the TOTP secret is not cached');

  // The first visit asks about cookies; the staff member rejects, like any visitor.
  const w = widget(page, cfg);
  await w.banner.waitFor();
  const d = await decision(page, () => w.reject.click());
  assert.equal(d.status, 201, 'the rejection is recorded');
  await w.banner.waitFor({ state: 'hidden' });

  assert.equal(await page.locator('h1').innerText(), 'Opret din adgang');
  assert.match(await mainText(page), /Brugernavn: admin/);
  const secret = (await page.locator('code.secret#totp-secret').innerText()).trim();
  assert.match(secret, /^[A-Z2-7]+=*$/, `the TOTP secret is base32: ${secret}`);
  totpKey = base32Decode(secret);
  found.push(...await axe(page, '/admin/setup/<token>', minor));
  assert.ok(totpKey.length >= 16, `the TOTP secret has at least 128 bits (${totpKey.length * 8})`);
  const otpauth = await page.getByRole('link', { name: 'føj til godkendelsesapp' }).getAttribute('href');
  assert.ok(otpauth.startsWith('otpauth://totp/') && otpauth.includes(`secret=${secret}`), `otpauth link: ${otpauth}`);

  await page.locator('#password').fill(PASSWORD);
  await page.locator('#code').fill(totp(totpKey));
  const [response] = await Promise.all([
    page.waitForResponse((x) => x.request().method() === 'POST' && x.url() === setupUrl),
    page.getByRole('button', { name: 'Gem og aktivér', exact: true }).click(),
  ]);
  await page.waitForLoadState('domcontentloaded');
  assert.equal(response.status(), 200, `the set-up POST: ${(await mainText(page)).replace(/\s+/g, ' ').slice(0, 200)}`);
  assert.equal(await page.locator('h1').innerText(), 'Din adgang er klar');
  const login = page.getByRole('link', { name: 'Log ind', exact: true });
  assert.equal(await login.getAttribute('href'), '/admin/login');
  assert.equal(await staffCookie(ctx), undefined, 'set-up does not sign in by itself');
  found.push(...await axe(page, '/admin/setup/<token> (done)', minor));

  // The link works once.
  const again = await page.goto(setupUrl);
  assert.equal(again.status(), 404, 'a used set-up link is gone');
  assert.equal(await page.locator('h1').innerText(), 'Linket virker ikke');
  found.push(...await axe(page, '/admin/setup/<used token>', minor));
  if (minor.length) t.diagnostic(`axe-core, moderate or minor:\n${minor.join('\n')}`);
  assert.deepEqual(found, [], `axe-core found serious or critical violations:\n${found.join('\n')}`);
  await page.close();
});

test('a wrong password is refused with a generic error and status 401', async (t) => {
  assert.ok(totpKey, 'set-up ran');
  const { ctx } = staff;
  const page = await ctx.newPage();
  await page.goto(`${pactum.url}/admin/login`);
  await page.locator('#username').fill('admin');
  await page.locator('#password').fill('forkert adgangskode');
  await page.locator('#code').fill(totp(totpKey));
  const [response] = await Promise.all([
    page.waitForResponse((x) => x.request().method() === 'POST' && x.url() === `${pactum.url}/admin/login`),
    page.getByRole('button', { name: 'Log ind', exact: true }).click(),
  ]);
  await page.waitForLoadState('domcontentloaded');
  assert.equal(response.status(), 401);
  const alert = page.locator('.error-summary[role="alert"]');
  assert.ok(await alert.isVisible(), 'an error is shown');
  const text = await alert.innerText();
  assert.match(text, /Brugernavn, adgangskode eller kode passer ikke/, 'the error does not say which part was wrong');
  assert.equal(await page.locator('#username').inputValue(), 'admin', 'the username is kept');
  assert.equal(await page.locator('#password').inputValue(), '', 'the password is not sent back');
  assert.equal(await staffCookie(ctx), undefined, 'no session cookie');
  const minor = [];
  const found = await axe(page, '/admin/login (refused)', minor);
  if (minor.length) t.diagnostic(`axe-core, moderate or minor:\n${minor.join('\n')}`);
  assert.deepEqual(found, [], `axe-core found serious or critical violations:\n${found.join('\n')}`);
  await page.close();
});

test('the admin signs in with the keyboard only and gets an HttpOnly, SameSite=Strict session cookie', async () => {
  assert.ok(totpKey, 'set-up ran');
  const { ctx } = staff;
  const page = await ctx.newPage();
  await page.goto(`${pactum.url}/admin/login`);
  assert.equal(await page.locator('h1').innerText(), 'Log ind som medarbejder');

  // Tab from the top of the page to the username field, then through the form in order.
  const path = [];
  for (let i = 0; i < 10 && (await focused(page)) !== 'username'; i++) {
    await page.keyboard.press('Tab');
    path.push(await focused(page));
  }
  assert.equal(await focused(page), 'username', `Tab reaches the username field (focus went: ${path.join(' → ')})`);
  await page.keyboard.type('admin');
  await page.keyboard.press('Tab');
  assert.equal(await focused(page), 'password', 'Tab goes from username to password');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Tab');
  assert.equal(await focused(page), 'code', 'Tab goes from password to the code');
  await page.keyboard.type(totp(totpKey));
  await page.keyboard.press('Tab');
  assert.equal(await focused(page), 'button:Log ind', 'Tab goes from the code to the submit button');
  const [response] = await Promise.all([
    page.waitForResponse((x) => x.request().method() === 'POST' && x.url() === `${pactum.url}/admin/login`),
    page.keyboard.press('Enter'),
  ]);
  assert.ok([302, 303].includes(response.status()), `the login POST redirects (got ${response.status()})`);
  await page.waitForURL(`${pactum.url}/admin`);
  assert.equal(await page.locator('h1').innerText(), 'Velkommen, admin');

  const cookie = await staffCookie(ctx);
  assert.ok(cookie, 'the session cookie __Host-pactum_session is set');
  assert.equal(cookie.httpOnly, true, 'HttpOnly');
  assert.equal(cookie.sameSite, 'Strict', 'SameSite=Strict');
  assert.equal(cookie.secure, true, 'Secure: browsers keep it on a loopback address too');
  assert.equal(cookie.path, '/');
  assert.ok(cookie.expires === -1, 'a session cookie (no Max-Age or Expires)');
  assert.match(cookie.value, /^[0-9a-f]{64}$/);
  assert.equal(await page.evaluate(() => document.cookie.includes('pactum_session')), false, 'scripts cannot read it');

  const nav = page.getByRole('navigation', { name: 'Administration' });
  const hrefs = await nav.getByRole('link').evaluateAll((links) => links.map((a) => a.getAttribute('href')));
  assert.deepEqual(hrefs, NAV, 'an admin sees every page in the menu');
  await page.close();
});

test('every admin page passes axe-core (no serious or critical violation) and has the cookie button at the bottom left', async (t) => {
  assert.ok(await staffCookie(staff.ctx), 'signed in');
  const page = await staff.ctx.newPage();
  const found = [];
  const minor = [];
  for (const p of ['/admin', ...NAV]) {
    const r = await page.goto(`${pactum.url}${p}`);
    assert.equal(r.status(), 200, `GET ${p}`);
    assert.equal(page.url(), `${pactum.url}${p}`, `${p} is not redirected`);
    assert.equal(r.headers()['cache-control'], 'no-store', `${p} is not cached`);
    await assertCookieButton(page, p);
    found.push(...await axe(page, p, minor));
  }
  // The pages a signed-out staff member sees, in a context of its own (the cookie choice made there too).
  const { ctx: anon, seen: anonSeen } = await watchedContext(browser, { viewport: { width: 1024, height: 700 } });
  const out = await anon.newPage();
  const r = await out.goto(`${pactum.url}/admin`);
  assert.equal(out.url(), `${pactum.url}/admin/login`, 'signed out, /admin leads to the login page');
  assert.equal(r.status(), 200);
  const w = widget(out, cfg);
  await w.banner.waitFor();
  found.push(...await axe(out, '/admin/login (with the cookie banner)', minor));
  await decision(out, () => w.reject.click());
  await w.banner.waitFor({ state: 'hidden' });
  await assertCookieButton(out, '/admin/login');
  found.push(...await axe(out, '/admin/login', minor));
  assertSameOrigin(anonSeen);
  assert.deepEqual(anonSeen.errors, [], 'no script error and no CSP violation');
  await anon.close();

  if (minor.length) t.diagnostic(`axe-core, moderate or minor:\n${minor.join('\n')}`);
  assert.deepEqual(found, [], `axe-core found serious or critical violations on the admin pages:\n${found.join('\n')}`);
  await page.close();
});

test('an admin invites a coordinator through /admin/staff and sees the one-time link once', async (t) => {
  assert.ok(await staffCookie(staff.ctx), 'signed in');
  const page = await staff.ctx.newPage();
  await page.goto(`${pactum.url}/admin/staff`);
  assert.equal(await page.locator('h1').innerText(), 'Medarbejdere');
  await page.getByLabel(/^Brugernavn/).fill(COORDINATOR);
  await page.getByLabel('Rolle', { exact: true }).selectOption('coordinator');
  const [response] = await Promise.all([
    page.waitForResponse((x) => x.request().method() === 'POST' && x.url() === `${pactum.url}/admin/staff`),
    page.getByRole('button', { name: 'Lav invitationslink', exact: true }).click(),
  ]);
  await page.waitForLoadState('domcontentloaded');
  assert.equal(response.status(), 200, `the invitation POST: ${(await mainText(page)).replace(/\s+/g, ' ').slice(0, 200)}`);
  assert.equal(response.headers()['cache-control'], 'no-store', 'the page with the one-time link is not cached');
  assert.equal(await page.locator('h1').innerText(), 'Invitationen er klar');
  const link = (await page.locator('#one-time-secret').innerText()).trim();
  assert.match(link, new RegExp(`^${origin().replace(/[.]/g, '\\.')}/admin/setup/[0-9a-f]{64}$`), `the one-time link: ${link}`);
  assert.notEqual(link, setupUrl);
  const minor = [];
  const found = await axe(page, '/admin/staff (invitation shown)', minor);
  if (minor.length) t.diagnostic(`axe-core, moderate or minor:\n${minor.join('\n')}`);
  assert.deepEqual(found, [], `axe-core found serious or critical violations:\n${found.join('\n')}`);

  // The list shows the pending account, and the link is not shown again.
  await page.getByRole('link', { name: 'Tilbage til medarbejderne', exact: true }).click();
  await page.waitForURL(`${pactum.url}/admin/staff`);
  const row = page.locator('tbody tr', { hasText: COORDINATOR });
  assert.equal(await row.count(), 1, 'the coordinator is listed');
  const cells = await row.locator('td').allInnerTexts();
  assert.equal(cells[1], 'Kursuskoordinator');
  assert.match(cells[2], /^Afventer opsætning/);
  assert.equal((await page.content()).includes(link.split('/').pop()), false, 'the one-time link is shown only once');

  // The invitee's own browser (no staff session) opens the set-up page for that account and role.
  const { ctx: invitee, seen } = await watchedContext(browser);
  const other = await invitee.newPage();
  const r = await other.goto(link);
  assert.equal(r.status(), 200, 'GET the one-time link');
  assert.match(await other.locator('main').innerText(), new RegExp(`Brugernavn: ${COORDINATOR.replace('.', '\\.')} · rolle: Kursuskoordinator`));
  assertSameOrigin(seen);
  await invitee.close();
  await page.close();
});

test('"Log ud" signs out: the cookie is cleared, the session is gone on the server, /admin leads to /admin/login', async () => {
  const before = await staffCookie(staff.ctx);
  assert.ok(before, 'signed in');
  const page = await staff.ctx.newPage();
  await page.goto(`${pactum.url}/admin`);
  const logout = page.getByRole('button', { name: 'Log ud (admin)', exact: true });
  const [response] = await Promise.all([
    page.waitForResponse((x) => x.request().method() === 'POST' && x.url() === `${pactum.url}/admin/logout`),
    logout.click(),
  ]);
  assert.ok([302, 303].includes(response.status()), `the logout POST redirects (got ${response.status()})`);
  await page.waitForURL(`${pactum.url}/admin/login`);
  assert.equal(await page.locator('h1').innerText(), 'Log ind som medarbejder');
  assert.equal(await staffCookie(staff.ctx), undefined, 'the session cookie is cleared');

  const r = await page.goto(`${pactum.url}/admin`);
  assert.equal(page.url(), `${pactum.url}/admin/login`, '/admin now leads to the login page');
  assert.equal(r.status(), 200);
  for (const p of NAV) {
    await page.goto(`${pactum.url}${p}`);
    assert.equal(page.url(), `${pactum.url}/admin/login`, `${p} now leads to the login page`);
  }

  // The old token itself no longer opens anything: the session was deleted, not only the cookie.
  const replay = await fetch(`${pactum.url}/admin`, { headers: { cookie: `__Host-pactum_session=${before.value}` }, redirect: 'manual' });
  assert.ok([302, 303, 307].includes(replay.status), `the old session token is refused (got ${replay.status})`);
  assert.equal(replay.headers.get('location'), '/admin/login');
  await page.close();
});

test('the staff member\'s browser only talked to Pactum, set only necessary cookies, and had no script error', () => {
  const { seen } = staff;
  assertSameOrigin(seen);
  assert.deepEqual(seen.errors, [], 'no script error and no CSP violation');
  // The staff session cookie is one of the policy's necessary cookies, like every cookie Pactum sets.
  const allowed = new Set(necessaryCookies(cfg));
  for (const h of seen.setCookies) assert.ok(allowed.has(h.split('=')[0].trim()), `Set-Cookie ${h}`);
});
