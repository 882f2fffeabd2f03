/* Pactum's consent widget (P26–P29, C5, L12). It asks before any non-necessary cookie, keeps scripts of a
 * category blocked until that category is granted, honours Global Privacy Control, and logs every decision
 * to the Pactum server, which answers with a receipt. All wording comes from the server's policy.
 * No dependencies, no inline styles, no requests to anyone but the Pactum server. */
(() => {
  'use strict';
  const d = document;
  const w = window;
  if (w.PactumConsent) return;
  const me = d.currentScript || d.querySelector('script[src*="consent.js"]');
  if (!me) return;
  const server = (me.getAttribute('data-pactum') || new URL(me.src, location.href).origin).replace(/\/+$/, '');
  const lang = (me.getAttribute('data-lang') || d.documentElement.lang || 'da').toLowerCase().slice(0, 2) === 'en' ? 'en' : 'da';
  const gpc = navigator.globalPrivacyControl === true;
  const ID = /^[A-Za-z0-9_-]{22,64}$/;
  const P = 'pactum-consent';
  const activated = new Set();
  let cfg = null; // the server's /consent/config
  let state = null; // the stored decision: { v: cookie_version, g: [granted optional categories], r: receipt id, d: device id }
  let ui = null;
  let opened = null;
  let returnTo = null;
  let busy = false;
  let wantOpen = false;

  const el = (tag, props, kids) => {
    const e = d.createElement(tag);
    for (const k in props) {
      const v = props[k];
      if (v == null || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'on') e.addEventListener('click', v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of kids || []) if (c) e.append(c);
    return e;
  };
  const svg = (tag, attrs) => {
    const e = d.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  };

  /* ---- the decision cookie (necessary: it only exists after a choice) ---- */
  const cookieName = () => (cfg && cfg.consent_cookie) || 'pactum_consent';
  const cookies = () => d.cookie.split(/;\s*/).filter(Boolean);
  const readStored = () => {
    const c = cookies().find((x) => x.startsWith(cookieName() + '='));
    try {
      const s = c && JSON.parse(decodeURIComponent(c.slice(cookieName().length + 1)));
      if (s && typeof s.v === 'string' && Array.isArray(s.g) && typeof s.r === 'string' && ID.test(s.d)) return s;
    } catch (e) { /* a damaged cookie counts as no decision */ }
    return null;
  };
  const writeStored = () => {
    d.cookie = cookieName() + '=' + encodeURIComponent(JSON.stringify(state)) + '; path=/; max-age=' +
      Math.round((cfg.consent_cookie_days || 365) * 86400) + '; samesite=lax' + (location.protocol === 'https:' ? '; secure' : '');
  };
  // P27: a withdrawn category's cookies are expired on this host and on every parent domain.
  const expire = (category) => {
    const c = cfg.categories.find((x) => x.key === category);
    if (!c) return;
    const have = cookies().map((x) => x.split('=')[0]);
    const parts = location.hostname.split('.');
    const secure = location.protocol === 'https:' ? '; secure' : '';
    const domains = [''];
    for (let i = 0; i < parts.length - 1; i++) domains.push('; domain=.' + parts.slice(i).join('.'));
    for (const k of c.cookies || []) {
      const names = k.name.endsWith('*') ? have.filter((n) => n.startsWith(k.name.slice(0, -1))) : [k.name];
      for (const n of names) for (const dm of domains) d.cookie = n + '=; path=/; max-age=0; expires=Thu, 01 Jan 1970 00:00:00 GMT' + secure + dm;
    }
  };
  const newDeviceId = () => {
    const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    return Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => a[b & 63]).join('');
  };
  const valid = () => !!(state && cfg && state.v === cfg.cookie_version);
  const granted = (k) => valid() && state.g.includes(k);
  const optional = () => cfg.categories.filter((c) => !c.required).map((c) => c.key);
  // GPC is a refusal of marketing: while the browser sends it, marketing cannot be granted here.
  const gpcBlocks = (k) => gpc && k === 'marketing';

  /* ---- talking to the Pactum server: no cookies, no referrer ---- */
  const call = async (path, opts) => {
    const r = await fetch(server + path, Object.assign({ credentials: 'omit', referrerPolicy: 'no-referrer' }, opts));
    let body = null;
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    return [r.status, body];
  };
  const loadConfig = async () => {
    const [s, c] = await call('/consent/config?lang=' + lang);
    if (s !== 200 || !c || !Array.isArray(c.categories) || !c.texts) throw new Error('consent config unavailable');
    cfg = c;
  };

  const decide = async (grant, method) => {
    if (busy) return false;
    busy = true;
    setError('');
    try {
      const device = state && ID.test(state.d) ? state.d : newDeviceId();
      const [s, r] = await call('/consent/decisions?lang=' + lang, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ device_id: device, granted: grant, method: method || 'click', cookie_version: cfg.cookie_version }),
      });
      if (s === 409) {
        // The policy's cookies changed while the page was open: ask again with the new list.
        await loadConfig();
        build();
        show(ui.banner);
        return false;
      }
      if ((s !== 201 && s !== 200) || !r || !r.receipt_id) {
        setError(r && r.message);
        return false;
      }
      const before = state ? state.g : [];
      const g = (Array.isArray(r.granted) ? r.granted : grant).filter((k) => k !== 'necessary');
      state = { v: cfg.cookie_version, g, r: r.receipt_id, d: device };
      writeStored();
      const revoked = before.filter((k) => !g.includes(k));
      revoked.forEach(expire);
      w.dispatchEvent(new CustomEvent('pactumconsent', { detail: api.get() }));
      // A script that already runs cannot be stopped: reload so that it no longer does.
      if (revoked.some((k) => activated.has(k))) {
        location.reload();
        return true;
      }
      activate();
      syncSettings();
      return true;
    } catch (e) {
      setError();
      return false;
    } finally {
      busy = false;
    }
  };

  /* ---- script blocking: <script type="text/plain" data-consent="statistics"> ---- */
  const activate = () => {
    if (!valid()) return;
    for (const old of d.querySelectorAll('script[type="text/plain"][data-consent]')) {
      const cats = old.getAttribute('data-consent').split(/[\s,]+/).filter(Boolean);
      if (!cats.every((c) => c === 'necessary' || state.g.includes(c))) continue;
      const s = d.createElement('script');
      for (const a of old.attributes) if (a.name !== 'type') s.setAttribute(a.name, a.value);
      if (old.getAttribute('data-type')) s.type = old.getAttribute('data-type');
      if (old.nonce) s.nonce = old.nonce;
      if (old.src) s.async = false;
      s.text = old.text;
      cats.forEach((c) => activated.add(c));
      old.replaceWith(s);
    }
  };

  /* ---- the interface ---- */
  const setError = (msg) => {
    if (!ui) return;
    for (const e of ui.errors) {
      e.textContent = msg === '' ? '' : msg || (lang === 'en' ? 'Your choice could not be saved. Please try again.' : 'Dit valg kunne ikke gemmes. Prøv igen.');
      e.hidden = msg === '';
    }
  };
  const focusables = (root) => Array.from(root.querySelectorAll('a[href],button,input,select,textarea,[tabindex]:not([tabindex="-1"])'))
    .filter((x) => !x.disabled && x.getClientRects().length);

  const show = (dlg, focus) => {
    if (!opened) returnTo = d.activeElement;
    if (opened && opened !== dlg) opened.hidden = true;
    opened = dlg;
    dlg.hidden = false;
    ui.backdrop.hidden = false;
    (focus || dlg).focus();
  };
  // Closing without a decision is no consent: the first layer stays (or comes back).
  const close = () => {
    if (!opened) return;
    if (!valid()) {
      if (opened !== ui.banner) show(ui.banner, ui.settingsButton);
      return;
    }
    opened.hidden = true;
    ui.backdrop.hidden = true;
    opened = null;
    const back = returnTo && returnTo !== d.body && d.contains(returnTo) ? returnTo : ui.fab;
    returnTo = null;
    back.focus();
  };
  const syncSettings = () => {
    if (!ui) return;
    for (const [key, box] of ui.boxes) {
      box.checked = granted(key);
      box.disabled = gpcBlocks(key) && !box.checked;
    }
    ui.receipt.hidden = !valid();
    if (valid()) {
      ui.receiptLink.textContent = state.r;
      ui.receiptLink.href = server + '/consent/receipts/' + encodeURIComponent(state.r);
    }
  };
  const openSettings = () => {
    if (!ui) {
      wantOpen = true;
      return;
    }
    syncSettings();
    show(ui.settings);
  };

  const build = () => {
    if (ui) ui.root.remove();
    opened = null;
    const t = cfg.texts;
    const btn = (text, on) => el('button', { type: 'button', class: 'pc-btn', text, on });
    const errorBox = () => el('p', { class: 'pc-error', role: 'alert', hidden: true });
    const errors = [errorBox(), errorBox()];
    const dialog = (id, cls, title, kids) => el('div', {
      id: P + '-' + id, class: 'pc-dialog ' + cls, role: 'dialog', 'aria-modal': 'true',
      'aria-labelledby': P + '-' + id + '-title', tabindex: '-1', hidden: true,
    }, [el('h2', { id: P + '-' + id + '-title', class: 'pc-title', text: title }), ...kids]);

    const acceptAll = async () => {
      if (await decide(optional().filter((k) => !gpcBlocks(k)))) close();
    };
    const rejectAll = async () => {
      if (await decide([])) close();
    };
    const settingsButton = btn(t.settings, openSettings);
    const bannerText = el('p', { id: P + '-body', class: 'pc-text', text: t.body });
    const bannerGpc = el('p', { class: 'pc-gpc', text: t.gpc_notice, hidden: true });
    const choices = el('div', { class: 'pc-actions pc-three' }, [btn(t.accept_all, acceptAll), btn(t.reject_all, rejectAll), settingsButton]);
    const noticeActions = el('div', { class: 'pc-actions', hidden: true }, [btn(t.settings, openSettings), btn(t.close, close)]);
    const banner = dialog('banner', 'pc-banner', t.title, [
      bannerText, bannerGpc,
      cfg.privacy_url && t.privacy_link ? el('p', {}, [el('a', { class: 'pc-link', href: cfg.privacy_url, text: t.privacy_link })]) : null,
      errors[0], choices, noticeActions,
    ]);
    banner.setAttribute('aria-describedby', bannerText.id);

    const boxes = new Map();
    const cats = cfg.categories.map((c) => {
      const id = P + '-cat-' + c.key;
      const box = el('input', { type: 'checkbox', id, name: c.key, 'aria-describedby': id + '-desc' });
      if (c.required) {
        box.checked = true;
        box.disabled = true;
      } else boxes.set(c.key, box);
      const list = (label, items) => items && items.length ? el('div', { class: 'pc-small' }, [
        label ? el('p', { class: 'pc-sub', text: label }) : null,
        el('ul', { class: 'pc-list' }, items.map((x) => el('li', {}, [x]))),
      ]) : null;
      const cookieItems = (c.cookies || []).map((k) => [el('code', { text: k.name }), ' · ' + [k.provider, k.purpose, k.lifetime].filter(Boolean).join(' · ')]);
      return el('div', { class: 'pc-cat' }, [
        el('div', { class: 'pc-row' }, [box, el('label', { for: id, text: c.label }), c.required && t.always_on ? el('span', { class: 'pc-small', text: t.always_on }) : null]),
        el('p', { id: id + '-desc', class: 'pc-small', text: c.description }),
        list(t.cookies_label, cookieItems.map((x) => el('span', {}, x))),
        list(t.recipients_label, (c.recipients || []).map((n) => el('span', { text: n }))),
      ]);
    });
    const receiptLink = el('a', { class: 'pc-link' });
    const receipt = el('p', { class: 'pc-small pc-receipt', hidden: true }, [t.receipt_label + ' ', receiptLink]);
    const save = async () => {
      if (await decide(optional().filter((k) => boxes.get(k) && boxes.get(k).checked))) close();
    };
    const settings = dialog('settings', 'pc-settings', t.settings, [
      gpc ? el('p', { class: 'pc-gpc', text: t.gpc_notice }) : null,
      ...cats, receipt, errors[1],
      el('div', { class: 'pc-actions' }, [btn(t.save, save), btn(t.close, close)]),
    ]);

    const icon = svg('svg', { viewBox: '0 0 24 24', 'aria-hidden': 'true', focusable: 'false' });
    icon.append(svg('path', { class: 'pc-biscuit', d: 'M12 2a10 10 0 1 0 10 10 3 3 0 0 1-3.6-3.2A3.2 3.2 0 0 1 15 5.3 3 3 0 0 1 12 2z' }));
    for (const [cx, cy, r] of [[8, 9, 1.5], [7.5, 14.5, 1.3], [12.5, 12.5, 1.2], [16, 16.2, 1.4], [11.5, 17.8, 1]]) {
      icon.append(svg('circle', { class: 'pc-chip', cx, cy, r }));
    }
    const fab = el('button', { type: 'button', class: 'pc-fab', 'aria-label': t.button_label, title: t.button_label, 'aria-haspopup': 'dialog', on: openSettings }, [icon]);
    const backdrop = el('div', { class: 'pc-backdrop', hidden: true });
    const root = el('div', { id: P, class: 'pc', lang: cfg.lang || lang }, [fab, backdrop, banner, settings]);
    ui = { root, fab, backdrop, banner, settings, settingsButton, boxes, receipt, receiptLink, errors, bannerText, bannerGpc, choices, noticeActions };
    d.body.append(root);
    syncSettings();
  };

  // After an automatic GPC decision the first layer only says what happened; nothing is asked.
  const showGpcNotice = () => {
    ui.bannerText.hidden = true;
    ui.bannerGpc.hidden = false;
    ui.choices.hidden = true;
    ui.noticeActions.hidden = false;
    ui.banner.setAttribute('aria-describedby', P + '-gpc');
    ui.bannerGpc.id = P + '-gpc';
    show(ui.banner);
  };

  d.addEventListener('keydown', (e) => {
    if (!opened) return;
    if (e.key === 'Escape') {
      e.preventDefault();
      close();
      return;
    }
    if (e.key !== 'Tab') return;
    const f = focusables(opened);
    if (!f.length) return e.preventDefault();
    const first = f[0];
    const last = f[f.length - 1];
    const a = d.activeElement;
    if (!opened.contains(a)) {
      e.preventDefault();
      first.focus();
    } else if (e.shiftKey && (a === first || a === opened)) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && a === last) {
      e.preventDefault();
      first.focus();
    }
  }, true);
  d.addEventListener('focusin', (e) => {
    if (opened && !opened.contains(e.target)) (focusables(opened)[0] || opened).focus();
  });

  const api = {
    open: openSettings,
    get: () => valid() ? { granted: ['necessary', ...state.g], receipt_id: state.r, cookie_version: state.v, policy_version: cfg.policy_version } : null,
  };
  w.PactumConsent = api;

  const start = async () => {
    const css = new Promise((done) => {
      const link = el('link', { rel: 'stylesheet', href: server + '/consent.css' });
      link.addEventListener('load', done);
      link.addEventListener('error', done);
      setTimeout(done, 3000);
      d.head.append(link);
    });
    try {
      await loadConfig();
    } catch (e) {
      return; // Server unreachable: show nothing, set nothing, keep every blocked script blocked.
    }
    await css;
    state = readStored();
    build();
    if (valid() && gpc && state.g.includes('marketing')) {
      // GPC switched on after marketing was granted: it withdraws that grant, recorded as "gpc".
      if (await decide(state.g.filter((k) => k !== 'marketing'), 'gpc')) showGpcNotice();
    } else if (valid()) {
      activate();
      if (wantOpen) openSettings();
    } else if (gpc && await decide([], 'gpc')) {
      showGpcNotice();
    } else {
      show(ui.banner);
    }
  };
  if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', start);
  else start();
})();
