// Shared set-up for the consent widget's browser tests: the real Pactum binary on a free port, a second
// "partner" site on another origin that embeds the widget, and Debian's headless Chromium.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = process.env.PACTUM_BIN || path.join(REPO, 'target/debug/pactum');
export const ASSETS = path.join(REPO, 'crates/pactum-web/assets');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/**
 * Starts `pactum serve` on 127.0.0.1 (a free port, or `port` to restart on the same address) with a fresh
 * (or the given) data directory. `extraArgs` are appended to the command line (e.g. `--smtp-host …`);
 * `env` adds to (or overrides) its environment.
 */
export async function startPactum({ policy, dataDir, port = 0, extraArgs = [], env = {} } = {}) {
  const dir = dataDir || mkdtempSync(path.join(os.tmpdir(), 'pactum-e2e-'));
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dir];
  if (policy) args.push('--policy', policy);
  args.push(...extraArgs);
  const child = spawn(BIN, args, { env: { ...process.env, PACTUM_LOG: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c; });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // Everything pactum printed; the listener stays for the server's whole life, so stdout is always drained.
  let out = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pactum did not start within 60 s\n${stderr}`)), 60_000);
    child.stdout.on('data', (c) => {
      out += c;
      const m = out.match(/serving on (http:\/\/[0-9.:]+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`pactum exited with ${code}\n${stderr}`)); });
  });
  return {
    url,
    dir,
    stderr: () => stderr,
    stdout: () => out,
    /** The first match of `re` in what pactum printed on stdout, waiting up to `timeoutMs` for it. */
    async output(re, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = out.match(re);
        if (m) return m;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`pactum printed nothing matching ${re}:\n${out}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop({ keepData = false } = {}) {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      if (!keepData && !dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A partner site on another origin (http://localhost:PORT, while Pactum is on 127.0.0.1) that embeds the
 * widget, with one blocked inline and one blocked external statistics script and a blocked marketing script.
 * `pactumUrl()` is read on every request, so a restarted Pactum (new port) is picked up.
 */
export async function startSite(pactumUrl) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname === '/stats.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end('window.statsSrcRan = true;');
      return;
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    const pactum = pactumUrl();
    const lang = url.searchParams.get('lang') || 'da';
    // ?server= points the widget at another Pactum address than the one it is loaded from.
    const server = url.searchParams.get('server') || pactum;
    const filler = Array.from({ length: 60 }, (_, i) => `<p>Afsnit ${i + 1}: kurser, tilmelding og praktisk information.</p>`).join('\n');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(`<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<title>Partner site</title>
<script src="${pactum}/consent.js" data-pactum="${server}" defer></script>
<script type="text/plain" data-consent="statistics">window.statsRan = true; document.cookie = 'pactum_stats=1; path=/; max-age=3600';</script>
<script type="text/plain" data-consent="statistics" src="/stats.js"></script>
<script type="text/plain" data-consent="marketing">window.marketingRan = true; document.cookie = 'partner_ads=1; path=/; max-age=3600';</script>
</head>
<body>
<main>
<h1>Kurser hos en partner</h1>
<p><a id="own-link" href="#">Cookieindstillinger</a></p>
${filler}
</main>
</body>
</html>`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://localhost:${port}`,
    origin: `http://localhost:${port}`,
    stop: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}

export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/**
 * A fresh browser context that records every request URL, every Set-Cookie response header, and every page
 * error or console error (a CSP violation shows up there).
 */
export async function watchedContext(browser, options = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  ctx.setDefaultTimeout(15_000);
  const seen = { requests: [], setCookies: [], errors: [] };
  ctx.on('request', (r) => seen.requests.push(r.url()));
  ctx.on('response', async (r) => {
    try {
      for (const h of await r.headersArray()) if (h.name.toLowerCase() === 'set-cookie') seen.setCookies.push(h.value);
    } catch { /* the page went away */ }
  });
  ctx.on('weberror', (e) => seen.errors.push(String(e.error())));
  // A failed resource load is judged by the tests that expect it; script errors and CSP violations are not.
  ctx.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) seen.errors.push(m.text()); });
  return { ctx, seen };
}

/** The widget's configuration as the server gives it. */
export async function config(pactumUrl, lang = 'da') {
  const res = await fetch(`${pactumUrl}/consent/config?lang=${lang}`);
  if (res.status !== 200) throw new Error(`GET /consent/config answered ${res.status}`);
  return res.json();
}

/** Cookie names the policy calls necessary: the only ones allowed without consent (C5, P29). */
export const necessaryCookies = (cfg) => new Set(cfg.categories.filter((c) => c.required).flatMap((c) => c.cookies.map((k) => k.name)));
export const cookiesOf = (cfg, key) => cfg.categories.find((c) => c.key === key).cookies.map((k) => k.name);

/** Parses the widget's `pactum_consent` cookie from a context, or null. */
export async function storedDecision(ctx, name = 'pactum_consent') {
  const c = (await ctx.cookies()).find((k) => k.name === name);
  return c ? JSON.parse(decodeURIComponent(c.value)) : null;
}

/** Runs `action` and returns the POST /consent/decisions exchange it caused. */
export async function decision(page, action) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().includes('/consent/decisions') && r.request().method() === 'POST', { timeout: 15_000 }),
    action(),
  ]);
  let body = null;
  try { body = await response.json(); } catch { /* the page reloaded before the body was read */ }
  return { status: response.status(), request: response.request().postDataJSON(), body };
}

export async function receipt(pactumUrl, id) {
  const res = await fetch(`${pactumUrl}/consent/receipts/${encodeURIComponent(id)}`);
  if (res.status !== 200) throw new Error(`GET /consent/receipts/${id} answered ${res.status}`);
  return res.json();
}

/** The widget's two dialogs and its cookie button, found the way a screen reader user finds them. */
export function widget(page, cfg) {
  const t = cfg.texts;
  const banner = page.getByRole('dialog', { name: t.title, exact: true });
  const settings = page.getByRole('dialog', { name: t.settings, exact: true });
  return {
    banner,
    settings,
    fab: page.getByRole('button', { name: t.button_label, exact: true }),
    accept: banner.getByRole('button', { name: t.accept_all, exact: true }),
    reject: banner.getByRole('button', { name: t.reject_all, exact: true }),
    openSettings: banner.getByRole('button', { name: t.settings, exact: true }),
    save: settings.getByRole('button', { name: t.save, exact: true }),
    box: (key) => settings.getByRole('checkbox', { name: cfg.categories.find((c) => c.key === key).label, exact: true }),
  };
}

/** Where the keyboard focus is: inside which of the widget's dialogs, or "outside". */
export const focusInside = (page) => page.evaluate(() => {
  const a = document.activeElement;
  const dlg = a && a.closest('[role="dialog"]');
  return dlg ? dlg.id : 'outside';
});

/** Fills the order form as the company Kunde A/S with two participants (the CVR number is left to the caller). */
export async function fillCompanyOrder(page) {
  await page.getByLabel('Virksomhed', { exact: true }).check();
  for (const [field, value] of [
    ['buyer_name', 'Karin Kontakt'], ['buyer_email', 'indkob@kunde.example'], ['buyer_company', 'Kunde A/S'],
    ['buyer_address', 'Vestergade 1, 8000 Aarhus C'], ['p1_name', 'Anna Andersen'], ['p1_email', 'anna@kunde.example'],
    ['p2_name', 'Bo Bæk'], ['p2_email', 'bo@kunde.example'],
  ]) {
    await page.locator(`#field-${field}`).fill(value);
  }
}
