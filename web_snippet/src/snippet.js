// callpool number-swap snippet (browser part). Bundled by build.mjs into an
// IIFE; see README.md for the config / API / consent contracts.
import { buildMatcher, formatLike, intl, isPhoneText, parse } from './phone.js';

/* global __CALLPOOL_CONFIG__ */
// build.mjs turns the free identifier below into the literal placeholder
// `/*__CALLPOOL_CONFIG__*/null`, which the server replaces with the JSON config.
// window.__callpoolConfig is the fallback (config prepended as a statement).
const W = window;
const D = document;
const K = '_cpv';
const DAY = 864e5;
// Never touched: subtrees of these (code/pre: literal samples; see README).
const EXCL = 'script,style,noscript,template,textarea,select,option,code,pre,' +
  '[contenteditable]:not([contenteditable=false]),[data-callpool-ignore]';
// Inline elements: text split across them is matched as one string.
const INLINE = /^(A|ABBR|BD[IO]|B|CITE|DFN|EM|FONT|I|MARK|NOBR|Q|S(MALL|PAN|TRONG|U[BP])?|TIME|U)$/;

let cfg;
let origs = [];
const cur = {}; // original e164 -> number to show
const seen = {}; // any number we may have shown -> its original
let matcher;
let observer;
let consent = null; // null: not required; true / false: required + state
let S = {}; // persisted: {k, v: visitor_id, s: session_id, n: [[orig, num]], x: lease expiry ms, t: saved at}
let lost = false;
let busy = false;
let fails = 0;
let pvPending = true;
let timer = 0;
let hb = 30;
let done = false;
let readyCbs = [];
let ref = D.referrer;
let lastUrl = location.href.split('#')[0];
const tpl = new WeakMap(); // data-callpool element -> its original text

const now = () => Date.now();
const guard = (f) => function () {
  try {
    return f.apply(this, arguments);
  } catch (e) { /* never throw into the page */ }
};
const norm = (n) => (parse(n) || {}).e164;
// Heartbeat seconds from the config or /visit, kept within 5..300 (d if not a number).
const secs = (v, d) => Math.min(Math.max(+v || d, 5), 300);

// ---------------------------------------------------------------- storage
function cookie(name) {
  const m = D.cookie.match(RegExp('(?:^|; )' + name.replace(/\W/g, '\\$&') + '=([^;]*)'));
  return m && decodeURIComponent(m[1]);
}

function load() {
  let raw;
  try {
    raw = localStorage.getItem(K);
  } catch (e) { /* blocked */ }
  try {
    const o = JSON.parse(raw || cookie(K));
    if (o && o.k === cfg.key && now() - o.t < 365 * DAY) return o;
  } catch (e) { /* malformed */ }
  return {};
}

function save() {
  if (consent === false) return;
  S.k = cfg.key;
  S.t = now();
  const raw = JSON.stringify(S);
  try {
    localStorage.setItem(K, raw);
    return;
  } catch (e) { /* fall back to a first-party cookie */ }
  D.cookie = K + '=' + encodeURIComponent(raw) + ';path=/;max-age=31536000;samesite=lax';
}

function wipe() {
  try {
    localStorage.removeItem(K);
  } catch (e) { /* */ }
  D.cookie = K + '=;path=/;max-age=0';
}

// ---------------------------------------------------------------- DOM swap
// A run of text nodes that read as one string (split only by inline elements).
// A bare digit run (84951234567) is a phone number only in a tel: link: its href
// (bare set) or its text (a node of the run inside one).
function swapGroup(nodes, bare) {
  const parts = nodes.map((n) => n.data);
  const starts = [];
  let text = '';
  parts.forEach((p) => {
    starts.push(text.length);
    text += p;
  });
  matcher.find(text, bare || nodes.some((n) => n.parentNode.closest('[href^="tel:"]'))).reverse().forEach((m) => {
    const rep = formatLike(m.text, cur[seen[m.e164]], m.e164);
    if (rep === m.text) return;
    let first = true;
    parts.forEach((p, i) => {
      const st = starts[i];
      const a = Math.max(m.start, st);
      const b = Math.min(m.end, st + nodes[i].data.length);
      if (a >= b) return;
      // Same length: each node keeps its share; otherwise the first gets it all.
      const piece = rep.length === m.text.length ? rep.slice(a - m.start, b - m.start) : first ? rep : '';
      first = false;
      parts[i] = p.slice(0, a - st) + piece + p.slice(b - st);
    });
  });
  nodes.forEach((n, i) => {
    if (n.data !== parts[i]) n.data = parts[i];
  });
}

function tel(el) {
  const h = el.getAttribute('href');
  if (!h || !/^(tel|callto):/i.test(h)) return;
  const i = h.indexOf(':') + 1;
  let v = h.slice(i);
  try {
    v = decodeURIComponent(v);
  } catch (e) { /* keep raw */ }
  // Swapped like a text node; a tel: link is a phone number even as bare digits.
  const n = { data: v };
  swapGroup([n], 1);
  if (n.data !== v) el.setAttribute('href', h.slice(0, i) + n.data);
}

function dataEl(el) {
  let t = tpl.get(el);
  if (t == null) tpl.set(el, (t = el.textContent));
  const d = (el.getAttribute('data-callpool') || t).replace(/\D/g, '');
  // No number named, none written: the first one the visitor's campaign swaps, else the first.
  const o = origs.find((x) => d.length > 6 && (x.endsWith(d) || d.endsWith(parse(x).nsn))) ||
    origs.find((x) => cur[x] !== x) || origs[0];
  const n = cur[o];
  // The site's own number again: restore the element's original text.
  const v = n === o ? t : isPhoneText(t) ? formatLike(t, n) : intl(n);
  if (el.textContent !== v) el.textContent = v;
  tel(el);
}

const blockOf = (n) => {
  let e = n.parentNode;
  while (e && INLINE.test(e.tagName)) e = e.parentNode;
  return e;
};

function scan(root) {
  if (!matcher || !D.body || !D.body.contains(root)) return;
  const el = root.nodeType === 1 ? root : root.parentNode;
  const dc = el.closest('[data-callpool]');
  if (dc) return dataEl(dc);
  if (el.closest(EXCL)) return;
  // A lone text node (e.g. directly in <body>, during parsing): just itself.
  if (root !== el) return swapGroup([root]);
  tel(root);
  const tw = D.createTreeWalker(root, 5, (n) =>
    n.nodeType === 3 ? 1 : n.matches(EXCL) ? 2 : n.hasAttribute('data-callpool') ? (dataEl(n), 2) : 1);
  let group = [];
  let block;
  const flush = () => {
    if (group.length) swapGroup(group);
    group = [];
  };
  for (let n; (n = tw.nextNode());) {
    if (n.nodeType === 1) {
      tel(n);
      if (!INLINE.test(n.tagName)) flush();
    } else {
      const b = blockOf(n);
      if (b !== block) flush();
      block = b;
      group.push(n);
    }
  }
  flush();
}

// The block-level container of a changed node (text split across inline
// elements must be re-read whole), but never the whole body for a small change.
function rootOf(n) {
  const b = n.nodeType === 1 && !INLINE.test(n.tagName) ? n : blockOf(n);
  return b && b !== D.body && b !== D.documentElement ? b : n;
}

const onMutations = guard((recs) => {
  const roots = new Set();
  recs.forEach((r) => {
    if (r.type === 'attributes') tel(r.target);
    else if (r.type === 'characterData') roots.add(rootOf(r.target));
    else r.addedNodes.forEach((n) => roots.add(rootOf(n)));
  });
  roots.forEach((r) => r && r.isConnected && scan(r));
});

function apply(pairs) {
  const m = {};
  (pairs || []).forEach((p) => {
    m[norm(p[0])] = norm(p[1]);
  });
  let changed = false;
  origs.forEach((o) => {
    const n = m[o] || o;
    if (cur[o] !== n) changed = true;
    cur[o] = n;
    seen[n] = o;
  });
  if (!changed) return;
  matcher = buildMatcher(Object.keys(seen));
  if (!observer) {
    observer = new MutationObserver(onMutations);
    observer.observe(D.documentElement, {
      childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ['href'],
    });
  }
  scan(D.body);
}

// ---------------------------------------------------------------- network
async function post(path, body) {
  const c = new AbortController();
  const t = setTimeout(() => c.abort(), cfg.timeout || 1500);
  try {
    // A string body is sent as text/plain;charset=UTF-8: no CORS preflight.
    const r = await fetch(cfg.api + '/' + path, {
      method: 'POST', body: JSON.stringify(body), credentials: 'omit', signal: c.signal,
    });
    // Errors are JSON too ({error, message}); a body that is not JSON fails the call.
    return [r.status, await r.json()];
  } catch (e) {
    return [0];
  } finally {
    clearTimeout(t);
  }
}

const gaId = () => {
  const m = (cookie('_ga') || '').match(/^GA\d\.\d+\.(\d+\.\d+)$/);
  return m ? m[1] : null;
};

const ttl = (j) => now() + ((j && j.ttl) > 0 ? j.ttl : 900) * 1e3;

async function visit() {
  busy = true;
  const [st, j] = await post('visit', {
    visitor_id: S.v || null, session_id: S.s || null, url: location.href, referrer: D.referrer,
    client_id: gaId(), consent, title: D.title,
  });
  busy = false;
  try {
    // Anything unexpected (non-200, no JSON, bad shape) throws into the catch.
    if (st !== 200 || !j.visitor_id || !j.session_id ||
      !j.numbers.every((x) => norm(x.original) && norm(x.number))) throw 0;
    S.v = j.visitor_id;
    S.s = j.session_id;
    S.n = j.numbers.map((x) => [x.original, x.number]);
    S.x = ttl(j);
    lost = false;
    fails = 0;
    const h = secs(j.heartbeat, hb);
    if (h !== hb) {
      hb = h;
      vis();
    }
    save();
    apply(S.n);
    if (pvPending) pageview();
  } catch (e) {
    // Refused for good (e.g. this page's origin is not allowed for the site): say
    // why, once, in the console for the site's owner, and stop asking.
    if (st === 403) {
      fails = 3;
      console.warn('callpool: ' + (j && j.message));
    }
    fails++;
    // The lease is gone and no new one: stop showing its numbers.
    if (lost || S.x < now()) {
      S.n = null;
      save();
      apply();
    }
  }
  ready();
}

async function beat() {
  const [st, j] = await post('heartbeat', { session_id: S.s, visitor_id: S.v });
  if (st === 404 || st === 410) {
    lost = true;
    tick();
  } else if (st === 200) {
    S.x = ttl(j);
    save();
  }
}

const tick = guard(() => {
  if (busy || D.visibilityState !== 'visible') return;
  if (!S.s || lost || S.x < now()) {
    if (fails < 3) visit();
  } else beat();
});

// Heartbeats only while visible; an immediate one when the page becomes visible.
const vis = guard(() => {
  clearInterval(timer);
  if (D.visibilityState === 'visible') {
    timer = setInterval(tick, hb * 1e3);
    return 1;
  }
});

function pageview() {
  if (!S.s) return (pvPending = true);
  pvPending = false;
  const u = cfg.api + '/pageview';
  const b = JSON.stringify({ session_id: S.s, visitor_id: S.v, url: location.href, title: D.title, referrer: ref });
  try {
    // A string is sent as text/plain;charset=UTF-8 (no CORS preflight), like fetch's.
    if (navigator.sendBeacon(u, b)) return;
  } catch (e) { /* no beacon */ }
  fetch(u, { method: 'POST', body: b, credentials: 'omit', keepalive: true }).catch(() => {});
}

const nav = guard(() => setTimeout(guard(() => {
  const u = location.href.split('#')[0];
  if (u === lastUrl) return;
  ref = lastUrl;
  lastUrl = u;
  pageview();
}), 100));

function ready(f) {
  if (f) readyCbs.push(f);
  if (!f) done = true;
  if (done) {
    const list = origs.map((o) => ({ original: o, number: cur[o] }));
    readyCbs.splice(0).forEach((cb) => guard(cb)(list));
  }
}

// ---------------------------------------------------------------- commands
const command = guard((c, a) => {
  if (c === 'consent') {
    consent = !!a;
    if (a) {
      if (S.s) {
        save();
        visit();
      }
    } else wipe();
  } else if (c === 'scan') scan(a || D.body);
  else if (c === 'ready') ready(a);
});

guard(() => {
  cfg = __CALLPOOL_CONFIG__ || W.__callpoolConfig;
  if (!cfg || !cfg.api || !Array.isArray(cfg.numbers) || !W.fetch || !W.MutationObserver) return;
  origs = cfg.numbers.map(norm).filter(Boolean);
  origs.forEach((o) => {
    cur[o] = seen[o] = o;
  });
  hb = secs(cfg.heartbeat, 30);
  const cs = cfg.consent || {};
  if (cs.required) consent = !!(cs.cookie && cookie(cs.cookie));

  const q = (W.callpool && W.callpool.q) || [];
  W.callpool = function () {
    command.apply(null, arguments);
  };
  q.forEach((a) => command.apply(null, a));

  if (consent !== false) S = load();
  const valid = S.s && S.x > now();
  // Swap from the stored lease synchronously, before asking the server.
  if (valid) apply(S.n);
  if (D.readyState === 'loading') D.addEventListener('DOMContentLoaded', guard(() => scan(D.body)));

  ['pushState', 'replaceState'].forEach(guard((k) => {
    const o = history[k];
    history[k] = function () {
      const r = o.apply(this, arguments);
      nav();
      return r;
    };
  }));
  W.addEventListener('popstate', nav);
  D.addEventListener('visibilitychange', () => vis() && tick());
  vis();

  // A new entry (external/no referrer, ad click ids) re-announces itself with
  // /visit even while a lease is valid, so the server can attribute it.
  let ext = true;
  try {
    ext = new URL(ref).host !== location.host;
  } catch (e) { /* no referrer */ }
  if (!valid || ext || /[?&](utm_|gclid|yclid|fbclid)/.test(location.search)) visit();
  else {
    pageview();
    tick();
    ready();
  }
})();
