// "My data" (P30, P21, P33, L1) in headless Chromium, with the mail Pactum really sends over SMTP to a
// listener in this process: a person enrolled with the newsletter box ticked asks for a link on /mine-data,
// opens the mailed single-use link with a button, sees the portal with the values held, withdraws the
// newsletter consent and erases everything. Every page of the flow passes axe-core (no serious or critical
// violation), no page talks to another origin, and no cookie but the policy's necessary ones is set.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { config, decision, launch, necessaryCookies, startPactum, watchedContext, widget } from './helpers.mjs';
import { decodeQuotedPrintable, parseMessage, startSmtp } from './smtp.mjs';

// Pactum's CSP (script-src 'self') blocks page.addScriptTag; evaluating the source through the DevTools
// protocol is not subject to the page's CSP, so the pages are tested as served (as in signup.test.mjs).
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const EMAIL = 'lis.lund@kunde.example';
const NAME = 'Lis Lund';

let smtp, pactum, browser, cfg;

before(async () => {
  smtp = await startSmtp();
  pactum = await startPactum({
    extraArgs: ['--smtp-host', smtp.host, '--smtp-port', String(smtp.port), '--smtp-security', 'none'],
  });
  browser = await launch();
  cfg = await config(pactum.url, 'da');
});
after(async () => {
  await browser?.close();
  await pactum?.stop();
  await smtp?.close();
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

function assertSameOrigin(seen) {
  assert.ok(seen.requests.length > 0, 'requests were recorded');
  const foreign = seen.requests.filter((u) => new URL(u).origin !== origin());
  assert.deepEqual(foreign, [], `every request goes to ${origin()}`);
}

/** Enrols `EMAIL` on the first session of the catalogue through the public API, with the newsletter box ticked. */
async function enrol() {
  const courses = await (await fetch(`${pactum.url}/api/v1/courses`)).json();
  const session = courses[0].sessions[0].id;
  const res = await fetch(`${pactum.url}/api/v1/enrolments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      session_id: session,
      fields: { name: NAME, email: EMAIL, phone: '+45 12 34 56 78' },
      newsletter: true,
      notice_version: '2026.1',
    }),
  });
  assert.equal(res.status, 201, `POST /api/v1/enrolments: ${await res.text()}`);
}

/** The decoded body of a mail. */
function bodyOf(mail) {
  const msg = parseMessage(mail.data);
  const cte = (msg.all('content-transfer-encoding')[0] || '').toLowerCase();
  return cte === 'quoted-printable' ? decodeQuotedPrintable(msg.body) : msg.body;
}

/** The "My data" link in a mail to `to`, waiting for it to arrive. */
async function mailedLink(to, timeoutMs = 10_000) {
  const re = new RegExp(`${origin().replace(/[.]/g, '\\.')}/mine-data/adgang/[0-9a-f]{64}`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const m of smtp.messages.filter((x) => x.to.includes(to))) {
      const line = bodyOf(m).split(/\r?\n/).find((l) => re.test(l));
      if (line) return re.exec(line)[0];
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no "My data" link to ${to} within ${timeoutMs} ms (mails: ${smtp.messages.map((m) => m.to.join(',')).join('; ') || 'none'})`);
    await smtp.waitFor(smtp.messages.length + 1, left).catch(() => {});
  }
}

/** Clicks a submit button and returns the POST's response once the next page has loaded. */
async function post(page, button) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).origin === origin()),
    button.click(),
  ]);
  await page.waitForLoadState('domcontentloaded');
  return response;
}

test('P30, P21, P33: ask for a link, open it, see, withdraw and erase, every page accessible', async (t) => {
  await enrol();
  const { ctx, seen } = await watchedContext(browser);
  const page = await ctx.newPage();
  const found = [];
  const minor = [];

  // The request page; the visitor rejects cookies first, so the banner covers nothing.
  const r = await page.goto(`${pactum.url}/mine-data`);
  assert.equal(r.status(), 200, 'GET /mine-data');
  assert.equal(r.headers()['cache-control'], 'no-store');
  const w = widget(page, cfg);
  await w.banner.waitFor();
  const d = await decision(page, () => w.reject.click());
  assert.equal(d.status, 201, 'the rejection is recorded');
  await w.banner.waitFor({ state: 'hidden' });
  assert.equal(await page.locator('h1').innerText(), 'Se dine data');
  found.push(...await axe(page, '/mine-data', minor));

  // The form, with the keyboard: type the address into the labelled field and press Enter.
  await page.getByLabel('E-mailadresse', { exact: true }).focus();
  await page.keyboard.type(EMAIL);
  assert.equal(await page.locator('#email').inputValue(), EMAIL);
  const [asked] = await Promise.all([
    page.waitForResponse((x) => x.request().method() === 'POST' && x.url() === `${pactum.url}/mine-data`),
    page.keyboard.press('Enter'),
  ]);
  await page.waitForLoadState('domcontentloaded');
  assert.equal(asked.status(), 200, `POST /mine-data: ${(await mainText(page)).replace(/\s+/g, ' ').slice(0, 200)}`);
  assert.equal(await page.locator('h1').innerText(), 'Tjek din mail');
  found.push(...await axe(page, '/mine-data (Tjek din mail)', minor));

  // The mailed link shows a button only; the button opens the portal.
  const link = await mailedLink(EMAIL);
  const o = await page.goto(link);
  assert.equal(o.status(), 200, 'GET the mailed link');
  const open = page.getByRole('button', { name: 'Åbn mine data', exact: true });
  assert.ok(await open.isVisible(), 'the link page has the "Åbn mine data" button');
  found.push(...await axe(page, '/mine-data/adgang/<token>', minor));
  const opened = await post(page, open);
  await page.waitForURL(new RegExp(`^${origin().replace(/[.]/g, '\\.')}/mine-data/s/[0-9a-f]{64}$`));
  assert.equal(opened.status(), 303, 'the button redirects to the portal');
  const portalUrl = page.url();

  // The portal: the person's values, the consents, the copy and the erase form.
  assert.equal(await page.locator('h1').innerText(), 'Dine data');
  const table = await page.locator('main table').innerText();
  for (const value of [NAME, EMAIL]) assert.ok(table.includes(value), `the table shows ${value}:\n${table}`);
  assert.ok(await page.getByRole('heading', { name: 'Samtykker', exact: true }).isVisible());
  const json = page.getByRole('link', { name: 'Hent alle dine oplysninger som JSON', exact: true });
  assert.equal(await json.getAttribute('href'), `${new URL(portalUrl).pathname}/data.json`);
  found.push(...await axe(page, '/mine-data/s/<portal>', minor));

  // Withdraw the newsletter consent.
  const withdrawn = await post(page, page.getByRole('button', { name: 'Træk samtykket tilbage', exact: true }).first());
  assert.equal(withdrawn.status(), 200, `the withdrawal POST: ${(await mainText(page)).replace(/\s+/g, ' ').slice(0, 200)}`);
  assert.equal(await page.locator('h1').innerText(), 'Dine data');
  assert.match(await page.locator('main [role="status"]').innerText(), /trukket tilbage med virkning fra nu/);
  assert.match(await mainText(page), /Nyhedsmails: trukket tilbage/);
  found.push(...await axe(page, '/mine-data/s/<portal> (after withdrawal)', minor));

  // Erase everything: tick the box, click.
  await page.getByLabel('Ja, slet alle mine data', { exact: true }).check();
  const erased = await post(page, page.getByRole('button', { name: 'Slet mine data', exact: true }));
  assert.equal(erased.status(), 200, `the erasure POST: ${(await mainText(page)).replace(/\s+/g, ' ').slice(0, 200)}`);
  assert.match(await mainText(page), /Dine data er slettet/);
  found.push(...await axe(page, '/mine-data/s/<portal>/slet (erased)', minor));
  const gone = await page.goto(portalUrl);
  assert.equal(gone.status(), 404, 'the portal is gone after erasure');

  assertSameOrigin(seen);
  assert.deepEqual(seen.errors, [], 'no script error and no CSP violation');
  const allowed = necessaryCookies(cfg);
  for (const h of seen.setCookies) assert.ok(allowed.has(h.split('=')[0].trim()), `only necessary cookies are set: Set-Cookie ${h}`);
  for (const c of await ctx.cookies()) assert.ok(allowed.has(c.name), `only necessary cookies are stored: ${c.name}`);

  if (minor.length) t.diagnostic(`axe-core, moderate or minor:\n${minor.join('\n')}`);
  assert.deepEqual(found, [], `axe-core found serious or critical violations on the "My data" pages:\n${found.join('\n')}`);
  await ctx.close();
});
