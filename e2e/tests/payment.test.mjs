// P23 in headless Chromium: a company orders two seats and pays by card on the payment provider's
// hosted page (a local provider following Stripe's documented Checkout API, in its own process), comes
// back to its order page and sees the order paid and the invoice issued. The card number is typed only on
// the provider's page: afterwards a byte scan of Pactum's whole data directory (database, WAL, written
// mail) and of everything it logged at debug level finds no trace of it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { config, decision, fillCompanyOrder, launch, REPO, startPactum, watchedContext, widget } from './helpers.mjs';

const PSP_BIN = process.env.PSP_BIN || path.join(REPO, 'target/debug/pactum-test-psp');
const CARD = '4242 4242 4242 4242';
const COURSE = 'prince2-foundation';

let psp, pspUrl, pactum, browser, cfg;

before(async () => {
  psp = spawn(PSP_BIN, ['--secret-key', 'sk_test_e2e', '--webhook-secret', 'whsec_e2e'], { stdio: ['ignore', 'pipe', 'inherit'] });
  pspUrl = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the test payment provider did not start')), 30_000);
    psp.stdout.on('data', (c) => {
      out += c;
      const m = /on (http:\/\/[0-9.:]+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    psp.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the test payment provider exited with ${code}`)); });
  });
  pactum = await startPactum({
    extraArgs: ['--stripe-api-base', pspUrl],
    env: { PACTUM_STRIPE_SECRET_KEY: 'sk_test_e2e', PACTUM_STRIPE_WEBHOOK_SECRET: 'whsec_e2e', PACTUM_LOG: 'debug' },
  });
  const hooked = await fetch(`${pspUrl}/test/webhook`, { method: 'POST', body: `${pactum.url}/payments/stripe/webhook` });
  assert.equal(hooked.status, 204);
  browser = await launch();
  cfg = await config(pactum.url, 'da');
});
after(async () => {
  await browser?.close();
  await pactum?.stop();
  psp?.kill();
});

/** Every file below `dir`. */
function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

test('P23: a company pays by card on the hosted page; the order is paid and no card number reaches Pactum', async () => {
  const { ctx, seen } = await watchedContext(browser);
  const page = await ctx.newPage();
  await page.goto(`${pactum.url}/kurser/${COURSE}`);
  const w = widget(page, cfg);
  await w.banner.waitFor();
  await decision(page, () => w.reject.click());
  await w.banner.waitFor({ state: 'hidden' });

  const order = page.getByRole('link', { name: /^Bestil pladser på/ }).first();
  await Promise.all([page.waitForURL(/\/bestil\//), order.click()]);
  await page.getByLabel('Antal deltagere').selectOption('2');
  await Promise.all([page.waitForURL(/seats=2/), page.getByRole('button', { name: 'Vis felter' }).click()]);
  assert.equal(await page.locator('#payment-card').isChecked(), true, 'card is offered');
  assert.equal(await page.locator('input[autocomplete="cc-number"]').count(), 0, "no card field on Pactum's page");
  await fillCompanyOrder(page);
  await page.locator('#field-cvr').fill('12345678');

  // The order form's answer sends the browser on to the provider's own page.
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(`${pspUrl}/c/pay/`)),
    page.getByRole('button', { name: 'Bestil og modtag faktura' }).click(),
  ]);
  assert.match(await page.locator('main').innerText(), /37375\.00 DKK/, 'the provider asks for the invoice total');
  await page.getByLabel('Card number').fill(CARD);
  await page.getByLabel('Expiry').fill('12/34');
  await page.getByLabel('CVC').fill('123');
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(`${pactum.url}/bestilling/`)),
    page.getByRole('button', { name: /^Pay / }).click(),
  ]);
  assert.equal(await page.locator('h1').innerText(), 'Din bestilling');
  assert.equal(await page.locator('.payment-status').innerText(), 'Betalt. Tak!');
  const invoice = await page.locator('.invoice').innerText();
  for (const needle of ['Faktura 1', 'Kunde A/S', 'CVR 12345678', '37.375,00 kr.']) {
    assert.ok(invoice.includes(needle), `the invoice shows ${needle}:\n${invoice}`);
  }

  // Pactum's pages load nothing from other origins; the provider's origin is only ever a page of its own.
  const origin = new URL(pactum.url).origin;
  const foreign = seen.requests.filter((u) => new URL(u).origin !== origin);
  assert.ok(foreign.length > 0 && foreign.every((u) => u.startsWith(`${pspUrl}/c/pay/`)), `only the hosted page: ${foreign}`);
  assert.deepEqual(seen.errors, [], 'no script error and no CSP violation');
  await ctx.close();

  // No trace of the card number in anything Pactum keeps or says.
  const digits = CARD.replace(/ /g, '');
  for (const file of files(pactum.dir)) {
    const bytes = readFileSync(file);
    for (const needle of [digits, CARD]) {
      assert.equal(bytes.indexOf(Buffer.from(needle)), -1, `the card number is in ${file}`);
    }
  }
  for (const [name, text] of [['stderr', pactum.stderr()], ['stdout', pactum.stdout()]]) {
    assert.ok(!text.includes(digits) && !text.includes(CARD), `the card number is in Pactum's ${name}`);
  }
  assert.ok(pactum.stderr().length > 0, 'the debug log was read');
});
