// P04, P03, L6 in headless Chromium: a company orders two seats from the course page the way a visitor
// clicks (choose the number of participants, then fill one block each), gets the issued invoice with 25 %
// VAT and the bookkeeping date, and the order confirmation arrives over SMTP. A mistake shows the error
// summary and keeps what was typed. No page talks to another origin; axe-core finds no serious or
// critical violation on the form, its error state or the invoice.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { config, decision, fillCompanyOrder, launch, startPactum, watchedContext, widget } from './helpers.mjs';
import { decodeQuotedPrintable, parseMessage, startSmtp } from './smtp.mjs';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const COURSE = 'prince2-foundation';

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

async function axe(page, what, found) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  for (const v of result.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')) {
    for (const n of v.nodes) found.push(`${what}: ${v.id} (${v.impact}) at ${n.target.join(' ')}: ${v.help}`);
  }
}

async function mailTo(to, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = smtp.messages.find((m) => m.to.includes(to));
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no mail to ${to} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function submitOrder(page) {
  const action = new URL(await page.locator('form[method="post"]').getAttribute('action'), pactum.url).href;
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url() === action),
    page.getByRole('button', { name: 'Bestil og modtag faktura' }).click(),
  ]);
  await page.waitForLoadState('domcontentloaded');
  return response;
}

test('P04, L6: a company orders two seats in the browser and gets the invoice and a confirmation mail', async () => {
  const { ctx, seen } = await watchedContext(browser);
  const page = await ctx.newPage();
  const found = [];
  await page.goto(`${pactum.url}/kurser/${COURSE}`);
  const w = widget(page, cfg);
  await w.banner.waitFor();
  await decision(page, () => w.reject.click());
  await w.banner.waitFor({ state: 'hidden' });

  const order = page.getByRole('link', { name: /^Bestil pladser på/ }).first();
  const href = await order.getAttribute('href');
  assert.match(href, new RegExp(`^/kurser/${COURSE}/bestil/[0-9a-f-]+$`));
  await Promise.all([page.waitForURL(`${pactum.url}${href}`), order.click()]);
  assert.equal(await page.locator('fieldset > legend', { hasText: /^Deltager/ }).count(), 1, 'one participant to begin with');

  // Two participants: the plain GET form redraws the page with two blocks (no script needed).
  await page.getByLabel('Antal deltagere').selectOption('2');
  await Promise.all([page.waitForURL(/seats=2/), page.getByRole('button', { name: 'Vis felter' }).click()]);
  assert.equal(await page.locator('fieldset > legend', { hasText: /^Deltager/ }).count(), 2);
  assert.equal(await page.getByLabel('Virksomhed', { exact: true }).isChecked(), false, 'nothing but "private person" is preset');
  await axe(page, 'order form', found);

  await fillCompanyOrder(page);
  await page.locator('#field-purchase_order').fill('PO-4711');

  // Forgotten CVR: the error summary, the typed values kept.
  let response = await submitOrder(page);
  assert.equal(response.status(), 400);
  assert.ok(await page.locator('.error-summary[role="alert"]').isVisible());
  assert.match(await page.locator('.error-summary').innerText(), /CVR-nummer/);
  assert.equal(await page.locator('#field-p2_email').inputValue(), 'bo@kunde.example', 'what was typed is kept');
  await axe(page, 'order form (after a failed submit)', found);

  await page.locator('#field-cvr').fill('12345678');
  response = await submitOrder(page);
  assert.equal(response.status(), 201, (await page.locator('main').innerText()).slice(0, 300));
  assert.equal(await page.locator('h1').innerText(), 'Tak for din bestilling');
  const invoice = await page.locator('.invoice').innerText();
  for (const needle of ['Faktura 1', 'Kunde A/S', 'Att. Karin Kontakt', 'CVR 12345678', 'PO-4711', '37.375,00 kr.', 'Moms 25 %']) {
    assert.ok(invoice.includes(needle), `the invoice shows ${needle}:\n${invoice}`);
  }
  assert.match(invoice, /opbevares efter bogføringsloven til og med 31\. december \d{4}/);
  await axe(page, 'invoice', found);

  const mail = await mailTo('indkob@kunde.example');
  const msg = parseMessage(mail.data);
  const cte = (msg.all('content-transfer-encoding')[0] || '').toLowerCase();
  const body = cte === 'quoted-printable' ? decodeQuotedPrintable(msg.body) : msg.body;
  assert.match(body, /Tak for din bestilling/);
  assert.match(body, /I alt: 37\.375,00 kr\./);
  assert.ok(!smtp.messages.some((m) => m.to.includes('anna@kunde.example')), 'participants get no order mail');

  const origin = new URL(pactum.url).origin;
  assert.deepEqual(seen.requests.filter((u) => new URL(u).origin !== origin), [], `every request goes to ${origin}`);
  assert.deepEqual(seen.errors, [], 'no script error and no CSP violation');
  assert.deepEqual(found, [], `axe-core found serious or critical violations:\n${found.join('\n')}`);
  await ctx.close();
});
