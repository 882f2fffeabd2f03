// P07, L11 and P03 on Pactum's own sign-up pages, in headless Chromium, with the mail Pactum really sends
// over SMTP to a listener in this process: an unticked newsletter box sends nothing; a ticked one sends a
// confirmation mail with List-Unsubscribe and one-click List-Unsubscribe-Post (RFC 8058), whose links work;
// the one-click POST needs no cookie and does not redirect. No page talks to another origin, and axe-core
// finds no serious or critical violation on the pages of the flow.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { config, decision, launch, startPactum, watchedContext, widget } from './helpers.mjs';
import { decodeQuotedPrintable, parseMessage, startSmtp } from './smtp.mjs';

// Pactum's CSP (script-src 'self') blocks page.addScriptTag, which inserts an inline script; evaluating the
// source through the DevTools protocol is not subject to the page's CSP, so the pages are tested as served.
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const COURSE = 'prince2-foundation';
const EVENT = 'projektlederdagen-2027';
// A mail that Pactum queues is delivered at once (the worker is woken), so a mail that should not exist
// would arrive well within this window; the ticked case below checks that the window is long enough.
const NO_MAIL_WINDOW_MS = 1500;

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

/** A fresh context that has rejected cookies on /kurser, so the banner covers nothing. */
async function visitor() {
  const { ctx, seen } = await watchedContext(browser);
  const page = await ctx.newPage();
  const response = await page.goto(`${pactum.url}/kurser`);
  assert.equal(response.status(), 200, 'GET /kurser');
  const w = widget(page, cfg);
  await w.banner.waitFor();
  assert.equal(cfg.texts.reject_all, 'Afvis alle');
  const d = await decision(page, () => w.reject.click());
  assert.equal(d.status, 201, 'the rejection is recorded');
  await w.banner.waitFor({ state: 'hidden' });
  return { ctx, seen, page };
}

/** From /kurser to the enrolment form of the course's first session, the way a visitor clicks. */
async function openEnrolmentForm(page) {
  await page.goto(`${pactum.url}/kurser`);
  await Promise.all([page.waitForURL(`${pactum.url}/kurser/${COURSE}`), page.locator(`h2 a[href="/kurser/${COURSE}"]`).click()]);
  const enrol = page.getByRole('link', { name: /^Tilmeld/ }).first();
  assert.equal(await enrol.innerText(), 'Tilmeld');
  const href = await enrol.getAttribute('href');
  assert.match(href, new RegExp(`^/kurser/${COURSE}/tilmelding/[0-9a-f-]+$`));
  await Promise.all([page.waitForURL(`${pactum.url}${href}`), enrol.click()]);
  await page.locator('#field-email').waitFor();
  return href;
}

async function submit(page) {
  const action = new URL(await page.locator('form[method="post"]').getAttribute('action'), pactum.url).href;
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url() === action),
    page.getByRole('button', { name: 'Tilmeld', exact: true }).click(),
  ]);
  await page.waitForLoadState('domcontentloaded');
  return response;
}

/** The enrolment POST got `status` (200: accepted); otherwise the failure names what the browser sent and what Pactum said. */
async function assertAccepted(page, response, status = 200) {
  if (response.status() === status) return;
  const origin = await response.request().headerValue('origin');
  const fetchSite = await response.request().headerValue('sec-fetch-site');
  assert.fail(`the enrolment POST answered ${response.status()}, not ${status} (browser sent Origin: ${origin}, Sec-Fetch-Site: ${fetchSite}; `
    + `Pactum answered: ${(await mainText(page)).replace(/\s+/g, ' ').slice(0, 200)})`
    + (origin === 'null' ? '. Chromium sends Origin: null on a form POST from a page served with Referrer-Policy: no-referrer, and Pactum\'s same-origin check refuses Origin: null' : ''));
}

const mainText = (page) => page.locator('main').innerText();

function assertSameOrigin(seen) {
  const origin = new URL(pactum.url).origin;
  assert.ok(seen.requests.length > 0, 'requests were recorded');
  const foreign = seen.requests.filter((u) => new URL(u).origin !== origin);
  assert.deepEqual(foreign, [], `every request goes to ${origin}`);
}

/** The mail Pactum sent to `to`, waiting for it to arrive. */
async function mailTo(to, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = smtp.messages.find((m) => m.to.includes(to));
    if (found) return found;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no mail to ${to} within ${timeoutMs} ms (got: ${smtp.messages.map((m) => m.to.join(',')).join('; ') || 'none'})`);
    await smtp.waitFor(smtp.messages.length + 1, left).catch(() => {});
  }
}

test('P07, P03: enrolling with the newsletter box unticked enrols, and sends no mail (no pending consent)', async () => {
  const { ctx, seen, page } = await visitor();
  await openEnrolmentForm(page);

  // P03: the form tells what the newsletter is, on which basis, how long and to whom, before the choice.
  const newsletterNotice = page.locator('aside.notice-panel section.purpose', { hasText: 'Nyhedsmails' });
  assert.equal(await newsletterNotice.count(), 1, 'the notice panel has a section for the newsletter purpose');
  const notice = await newsletterNotice.innerText();
  for (const word of ['Retsgrundlag', 'Samtykke', 'Opbevaring', 'Modtagere']) assert.ok(notice.includes(word), `newsletter notice names ${word}`);

  // P07: both optional boxes are unticked by default.
  assert.equal(await page.locator('#box-newsletter').isChecked(), false, 'the newsletter box is not pre-ticked');
  assert.equal(await page.locator('#box-certification').isChecked(), false, 'the certification box is not pre-ticked');

  await page.locator('#field-name').fill('Anna Andersen');
  await page.locator('#field-email').fill('anna@kunde.example');
  await assertAccepted(page, await submit(page));
  assert.equal(await page.locator('h1').innerText(), 'Du er tilmeldt');
  assert.ok(!/indbakke/i.test(await mainText(page)), 'no newsletter confirmation is announced');

  await new Promise((r) => setTimeout(r, NO_MAIL_WINDOW_MS));
  assert.deepEqual(smtp.messages.map((m) => m.to), [], `no mail within ${NO_MAIL_WINDOW_MS} ms of an enrolment without the newsletter box`);

  assertSameOrigin(seen);
  assert.deepEqual(seen.errors, [], 'no script error and no CSP violation');
  await ctx.close();
});

test('P07, L11: a ticked newsletter box sends a confirmation mail with one-click unsubscribe; its links work', async () => {
  const { ctx, seen, page } = await visitor();
  await openEnrolmentForm(page);
  const to = 'bo.berg@kunde.example';
  await page.locator('#field-name').fill('Bo Berg');
  await page.locator('#field-email').fill(to);
  await page.locator('#box-newsletter').check();
  const submitted = Date.now();
  await assertAccepted(page, await submit(page));
  assert.equal(await page.locator('h1').innerText(), 'Du er tilmeldt');
  assert.match(await mainText(page), /tjek din indbakke/i, 'the page asks to check the inbox');

  const mail = await mailTo(to);
  assert.ok(mail.at - submitted < NO_MAIL_WINDOW_MS,
    `the confirmation mail took ${mail.at - submitted} ms; the no-mail window (${NO_MAIL_WINDOW_MS} ms) of the unticked case is too short to prove anything`);
  assert.deepEqual(mail.to, [to], 'the envelope has only the subscriber as recipient');
  assert.ok(mail.from, 'the envelope has a sender');
  const msg = parseMessage(mail.data);
  assert.deepEqual(msg.all('to'), [to], 'To: header');

  const base = pactum.url.replace(/[.]/g, '\\.');
  const unsub = msg.all('list-unsubscribe');
  assert.equal(unsub.length, 1, `one List-Unsubscribe header (got ${JSON.stringify(unsub)})`);
  const u = new RegExp(`^<(${base}/nyhedsbrev/afmeld/([A-Za-z0-9_-]+))>$`).exec(unsub[0]);
  assert.ok(u, `List-Unsubscribe is <${pactum.url}/nyhedsbrev/afmeld/<token>>: ${unsub[0]}`);
  const unsubscribeUrl = u[1];
  assert.deepEqual(msg.all('list-unsubscribe-post'), ['List-Unsubscribe=One-Click'], 'List-Unsubscribe-Post (RFC 8058)');

  const cte = (msg.all('content-transfer-encoding')[0] || '').toLowerCase();
  const body = cte === 'quoted-printable' ? decodeQuotedPrintable(msg.body) : msg.body;
  const c = new RegExp(`${base}/nyhedsbrev/bekraeft/([A-Za-z0-9_-]+)`).exec(body);
  assert.ok(c, `the body links to ${pactum.url}/nyhedsbrev/bekraeft/<token>:\n${body}`);
  assert.notEqual(c[1], u[2], 'the confirmation token is not the unsubscribe token');

  // The confirmation link, opened in the browser (same context: the visitor's own browser).
  const confirmed = await page.goto(c[0]);
  assert.equal(confirmed.status(), 200, 'GET the confirmation link');
  assert.match(await mainText(page), /din tilmelding er bekræftet/i);

  // L11 / RFC 8058: the one-click POST from a mail client: no cookie, no login, no redirect.
  const oneClick = () => fetch(unsubscribeUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'List-Unsubscribe=One-Click',
    redirect: 'manual',
  });
  const first = await oneClick();
  assert.equal(first.status, 200, 'the one-click POST answers 200, not a redirect');
  assert.match(await first.text(), /Du er afmeldt/);
  const second = await oneClick();
  assert.equal(second.status, 200, 'a second one-click POST also answers 200');
  assert.match(await second.text(), /Du er afmeldt/);

  assert.equal(smtp.messages.filter((m) => m.to.includes(to)).length, 1, 'exactly one mail to the subscriber');
  assertSameOrigin(seen);
  assert.deepEqual(seen.errors, [], 'no script error and no CSP violation');
  await ctx.close();
});

/** Seats left on the course's first session, as the catalogue API tells them. */
async function seatsLeft() {
  const courses = await (await fetch(`${pactum.url}/api/v1/courses`)).json();
  return courses.find((c) => c.slug === COURSE).sessions[0].seats_left;
}

test('a double click on "Tilmeld" enrols once: one seat, one confirmation mail, the confirmation page', async () => {
  const { ctx, seen, page } = await visitor();
  await openEnrolmentForm(page);
  const before = await seatsLeft();
  const to = 'dorthe.dobbelt@kunde.example';
  await page.locator('#field-name').fill('Dorthe Dobbelt');
  await page.locator('#field-email').fill(to);
  await page.locator('#box-newsletter').check();
  const action = new URL(await page.locator('form[method="post"]').getAttribute('action'), pactum.url).href;
  // Every POST the browser sends reaches Pactum at once; its answer comes back slowly, as over a slow
  // line, so that the second click of the double click lands while the first is on its way.
  const posts = [];
  await page.route(action, async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    const response = await route.fetch();
    posts.push(response.status());
    await new Promise((r) => setTimeout(r, 400));
    await route.fulfill({ response }).catch(() => {}); // the browser may have given this one up
  });
  const firstSent = page.waitForEvent('request', (r) => r.method() === 'POST' && r.url() === action);
  const box = await page.getByRole('button', { name: 'Tilmeld', exact: true }).boundingBox();
  const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
  await page.mouse.click(x, y);
  await firstSent;
  await page.mouse.click(x, y);
  await page.locator('h1', { hasText: 'Du er tilmeldt' }).waitFor();
  await mailTo(to);
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(posts, [200, 200], 'both clicks sent the form, and Pactum answered both with the confirmation page');
  await new Promise((r) => setTimeout(r, NO_MAIL_WINDOW_MS));
  assert.equal(await seatsLeft(), before - 1, 'one seat taken, not two');
  assert.equal(smtp.messages.filter((m) => m.to.includes(to)).length, 1, 'one confirmation mail, not two');
  assertSameOrigin(seen);
  assert.deepEqual(seen.errors, [], 'no script error and no CSP violation');
  await ctx.close();
});

test('P07: the consent box on /nyhedsbrev is unticked by default', async () => {
  const { ctx, seen, page } = await visitor();
  const response = await page.goto(`${pactum.url}/nyhedsbrev`);
  assert.equal(response.status(), 200);
  const box = page.locator('#field-consent');
  assert.equal(await box.getAttribute('type'), 'checkbox');
  assert.equal(await box.isChecked(), false, 'the newsletter consent box is not pre-ticked');
  assertSameOrigin(seen);
  await ctx.close();
});

test('axe-core finds no serious or critical violation on the sign-up pages', async () => {
  const { ctx, seen, page } = await visitor();
  const found = [];
  const check = async (what) => {
    await page.evaluate(AXE);
    const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    for (const v of result.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')) {
      for (const n of v.nodes) found.push(`${what}: ${v.id} (${v.impact}) at ${n.target.join(' ')}: ${v.help}`);
    }
  };

  for (const p of ['/kurser', `/kurser/${COURSE}`, '/nyhedsbrev', `/arrangementer/${EVENT}`, '/privatliv']) {
    const r = await page.goto(`${pactum.url}${p}`);
    assert.equal(r.status(), 200, `GET ${p}`);
    await check(p);
  }

  // The form, the form after a failed submit (no e-mail: the error summary), and the confirmation page.
  // A refused POST is reported together with the axe findings of the pages checked so far.
  let blocked = null;
  try {
    const form = await openEnrolmentForm(page);
    await check(`${form} (form)`);
    await page.locator('#field-name').fill('Carl Carlsen');
    await assertAccepted(page, await submit(page), 400);
    assert.ok(await page.locator('.error-summary[role="alert"]').isVisible(), 'the error summary is shown');
    assert.ok(await page.locator('#field-email').isVisible(), 'the form is shown again');
    await check(`${form} (after a failed submit)`);
    await page.locator('#field-email').fill('carl@kunde.example');
    await assertAccepted(page, await submit(page));
    assert.equal(await page.locator('h1').innerText(), 'Du er tilmeldt');
    await check(`${form} (confirmation page)`);
  } catch (e) {
    blocked = e;
  }

  assertSameOrigin(seen);
  assert.deepEqual(found, [], `axe-core found serious or critical violations in Pactum's pages:\n${found.join('\n')}`
    + (blocked ? `\n(and the form part could not run: ${blocked.message})` : ''));
  if (blocked) throw blocked;
  await ctx.close();
});
