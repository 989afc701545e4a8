// DOM behaviour of the built snippet (callpool/tracking/static/callpool.min.js) in jsdom — no
// browser. fetch / sendBeacon are mocked; the real-browser e2e tests against
// the real server live with the server.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { JSDOM } from 'jsdom';

const here = new URL('.', import.meta.url);
const CODE = readFileSync(new URL('../../callpool/tracking/static/callpool.min.js', here), 'utf8');
const PLACEHOLDER = '/*__CALLPOOL_CONFIG__*/null';
const PAGE1 = readFileSync(new URL('pages/index.html', here), 'utf8');
const PAGE2 = readFileSync(new URL('pages/page2.html', here), 'utf8');
const ORDER = readFileSync(new URL('pages/order.html', here), 'utf8');

const RU = '+74951234567';
const US = '+12125550199';
const RU_T = '+74950000001';
const US_T = '+13105550123';
const API = 'https://cp.example/api/v1/t/KEY1';
const CONFIG = {
  key: 'KEY1', api: API, numbers: [RU, US], heartbeat: 30,
  consent: { required: false, cookie: null }, timeout: 300, v: 'test',
};
const VISIT_OK = {
  visitor_id: 'vis-1', session_id: 'ses-1', ttl: 900, heartbeat: 30,
  numbers: [{ original: RU, number: RU_T }, { original: US, number: US_T }],
};

// Every window is closed after each test (also when an assertion failed), so
// no interval keeps the test process alive.
const windows = [];
afterEach(() => windows.splice(0).forEach((w) => w.close()));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Loads html into jsdom, mocks the API with `routes` ({visit, heartbeat}:
 * [status, json] | function(body) → [status, json] | 'hang'), runs the snippet.
 * Every setInterval delay is recorded in `intervals`; `fast: N` runs intervals N
 * times faster (the snippet keeps heartbeats at 5 s or more).
 */
function load(html, opts = {}) {
  const dom = new JSDOM(html, {
    url: opts.url || 'https://shop.example/index.html',
    ...(opts.referrer ? { referrer: opts.referrer } : {}),
    runScripts: 'outside-only',
    pretendToBeVisual: true,
  });
  const w = dom.window;
  windows.push(w);
  const calls = [];
  const routes = { visit: [200, VISIT_OK], heartbeat: [200, { ttl: 900 }], ...(opts.routes || {}) };
  w.fetch = (url, init) => {
    const body = JSON.parse(init.body);
    const path = url.slice(API.length + 1);
    calls.push({ path, body, init });
    let r = routes[path] || [204, null];
    if (typeof r === 'function') r = r(body);
    if (r === 'hang') {
      return new Promise((_, rej) => init.signal && init.signal.addEventListener('abort', () => rej(new Error('abort'))));
    }
    return Promise.resolve({
      status: r[0],
      json: () => (typeof r[1] === 'string' ? Promise.reject(new SyntaxError('bad json')) : Promise.resolve(r[1])),
    });
  };
  if (opts.beacon) {
    w.navigator.sendBeacon = (url, data) => {
      calls.push({ path: url.slice(API.length + 1), beacon: data, body: null });
      return true;
    };
  }
  const intervals = [];
  const setInterval = w.setInterval.bind(w);
  w.setInterval = (f, ms) => {
    intervals.push(ms);
    return setInterval(f, ms / (opts.fast || 1));
  };
  if (opts.storage) w.localStorage.setItem('_cpv', JSON.stringify(opts.storage));
  if (opts.cookie) w.document.cookie = opts.cookie;
  if (opts.before) opts.before(w);
  const errors = [];
  w.addEventListener('error', (e) => errors.push(e.error || e.message));
  const cfg = { ...CONFIG, ...(opts.config || {}) };
  w.eval(opts.noConfig ? CODE : CODE.replace(PLACEHOLDER, JSON.stringify(cfg)));
  const $ = (sel) => w.document.querySelector(sel);
  return { w, d: w.document, $, calls, errors, intervals, text: (sel) => $(sel).textContent, close: () => w.close() };
}

const stored = (w) => JSON.parse(w.localStorage.getItem('_cpv'));
const lease = (extra = {}) => ({
  k: 'KEY1', v: 'vis-1', s: 'ses-1', n: [[RU, RU_T], [US, US_T]], x: Date.now() + 600e3, t: Date.now(), ...extra,
});

function assertSwapped(p) {
  assert.equal(p.text('#hdr-tel'), '+7 (495) 000-00-01');
  assert.equal(p.$('#hdr-tel').getAttribute('href'), 'tel:+74950000001');
  assert.equal(p.text('#f-plus7'), 'Moscow: +7 (495) 000-00-01');
  assert.equal(p.text('#f-8sp'), 'Moscow: 8 495 000 00 01');
  assert.equal(p.text('#f-8par'), 'Moscow: 8 (495) 000-00-01');
  assert.equal(p.text('#f-e164'), 'Moscow: +74950000001');
  assert.equal(p.text('#f-nbsp'), 'Moscow: +7\u00a0495\u00a0000\u202f00\u202f01');
  assert.equal(p.text('#f-us-par'), 'New York: (310) 555-0123');
  assert.equal(p.text('#f-us-dot'), 'New York: 310.555.0123');
  assert.equal(p.text('#f-us-plus'), 'New York: +1 310-555-0123');
  assert.equal(p.text('#f-two'), 'Both: 8 (495) 000-00-01, (310) 555-0123.');
  assert.equal(p.$('#tel-8').getAttribute('href'), 'tel:84950000001');
  assert.equal(p.text('#tel-8'), 'Call us');
  assert.equal(p.$('#tel-enc').getAttribute('href'), 'tel:+1 310 555 0123');
  assert.equal(p.text('#tel-enc'), '+1 310 555 0123');
  // split across inline elements: each node keeps its share
  assert.equal(p.$('#split').innerHTML, '<span class="code">+7 (495)</span> <b>000-00-01</b>');
  assert.equal(p.$('#split').getAttribute('href'), 'tel:+74950000001');
  assert.equal(p.text('#dc-text'), '+7 495 000-00-01');
  assert.equal(p.text('#dc-phone'), '8 310 555 01 23');
}

function assertUntouched(p) {
  assert.equal(p.$('#inp').value, '+7 (495) 123-45-67');
  assert.equal(p.$('#inp').getAttribute('value'), '+7 (495) 123-45-67');
  assert.equal(p.$('#ta').value, '8 495 123 45 67');
  assert.equal(p.text('#sel'), '+7 (495) 123-45-67');
  assert.equal(p.text('#pre'), '8 (495) 123-45-67');
  assert.equal(p.text('#code'), '+74951234567');
  assert.equal(p.text('#ce'), '+7 (495) 123-45-67');
  assert.equal(p.text('#ignored'), '+7 (495) 123-45-67');
  assert.equal(p.text('#inline-script'), 'window.siteNumber = "+7 (495) 123-45-67";');
  assert.match(p.text('#nos'), /\+7 \(495\) 123-45-67/);
  assert.equal(p.text('#near'),
    'Order #4951234567890, 84951234567890, price 4 951 234 567 ₽, date 12.03.2024, IP 212.55.50.199, (212) 555-01990');
  assert.equal(p.d.title, 'callpool test page 1 — call +7 (495) 123-45-67');
}

function assertOriginal(p) {
  assert.equal(p.text('#hdr-tel'), '+7 (495) 123-45-67');
  assert.equal(p.$('#hdr-tel').getAttribute('href'), 'tel:+74951234567');
  assert.equal(p.text('#f-us-dot'), 'New York: 212.555.0199');
  assert.equal(p.text('#dc-text'), 'Call us now');
}

test('first visit: POST /visit, swap everywhere, store the lease, then a page view', async () => {
  const p = load(PAGE1, { cookie: '_ga=GA1.1.123456789.1700000000', beacon: true });
  assertOriginal(p); // nothing stored: nothing to swap before the server answers
  await sleep(30);
  const visit = p.calls.find((c) => c.path === 'visit');
  assert.deepEqual(visit.body, {
    visitor_id: null, session_id: null, url: 'https://shop.example/index.html', referrer: '',
    client_id: '123456789.1700000000', consent: null, title: 'callpool test page 1 — call +7 (495) 123-45-67',
  });
  assert.equal(visit.init.method, 'POST');
  assert.equal(visit.init.credentials, 'omit');
  assert.equal(typeof visit.init.body, 'string'); // → text/plain;charset=UTF-8, no preflight
  assert.equal(visit.init.headers, undefined);
  assertSwapped(p);
  assertUntouched(p);
  const s = stored(p.w);
  assert.equal(s.k, 'KEY1');
  assert.equal(s.v, 'vis-1');
  assert.equal(s.s, 'ses-1');
  assert.deepEqual(s.n, [[RU, RU_T], [US, US_T]]);
  assert.ok(s.x > Date.now() + 800e3 && s.x <= Date.now() + 900e3);
  const pv = p.calls.filter((c) => c.path === 'pageview');
  assert.equal(pv.length, 1);
  // A string: the browser sends it as text/plain;charset=UTF-8, a CORS simple request.
  assert.equal(typeof pv[0].beacon, 'string');
  assert.deepEqual(JSON.parse(pv[0].beacon), {
    session_id: 'ses-1', visitor_id: 'vis-1', url: 'https://shop.example/index.html',
    title: 'callpool test page 1 — call +7 (495) 123-45-67', referrer: '',
  });
  assert.deepEqual(p.errors, []);
  p.close();
});

test('next page: swaps synchronously from storage, no /visit, heartbeat + page view', async () => {
  const p = load(PAGE2, {
    url: 'https://shop.example/page2.html', referrer: 'https://shop.example/index.html', storage: lease(),
  });
  // synchronously, before any network answer
  assert.equal(p.text('#p2-ru'), 'Офис: 8 (495) 000-00-01');
  assert.equal(p.text('#p2-us'), 'US: 310-555-0123');
  assert.equal(p.$('#p2-tel').getAttribute('href'), 'tel:+13105550123');
  await sleep(30);
  assert.deepEqual(p.calls.map((c) => c.path).sort(), ['heartbeat', 'pageview']);
  assert.deepEqual(p.calls.find((c) => c.path === 'heartbeat').body, { session_id: 'ses-1', visitor_id: 'vis-1' });
  const pv = p.calls.find((c) => c.path === 'pageview');
  assert.equal(pv.init.keepalive, true); // no sendBeacon in jsdom → fetch keepalive
  assert.equal(pv.init.credentials, 'omit');
  assert.equal(pv.body.referrer, 'https://shop.example/index.html');
  assert.equal(p.text('#p2-ru'), 'Офис: 8 (495) 000-00-01');
  p.close();
});

test('external referrer / ad click with a valid lease: swap from storage and re-announce with /visit', async () => {
  for (const [url, referrer] of [
    ['https://shop.example/page2.html', 'https://www.google.com/'],
    ['https://shop.example/page2.html?utm_source=ya', 'https://shop.example/index.html'],
  ]) {
    const p = load(PAGE2, {
      url, referrer, storage: lease(),
      routes: { visit: [200, { ...VISIT_OK, numbers: [{ original: RU, number: '+74950000002' }, { original: US, number: US }] }] },
    });
    assert.equal(p.text('#p2-ru'), 'Офис: 8 (495) 000-00-01');
    await sleep(30);
    const v = p.calls.find((c) => c.path === 'visit');
    assert.equal(v.body.visitor_id, 'vis-1');
    assert.equal(v.body.session_id, 'ses-1');
    assert.equal(v.body.referrer, referrer);
    // the server's answer wins: re-swapped from the stored number, US back to the original
    assert.equal(p.text('#p2-ru'), 'Офис: 8 (495) 000-00-02');
    assert.equal(p.text('#p2-us'), 'US: 212-555-0199');
    assert.equal(p.$('#p2-tel').getAttribute('href'), 'tel:+12125550199');
    p.close();
  }
});

test('expired stored lease: no swap from storage, /visit with the stored ids', async () => {
  const p = load(PAGE2, {
    url: 'https://shop.example/page2.html', referrer: 'https://shop.example/index.html',
    storage: lease({ x: Date.now() - 1000 }),
  });
  assert.equal(p.text('#p2-ru'), 'Офис: 8 (495) 123-45-67');
  await sleep(30);
  const v = p.calls.find((c) => c.path === 'visit');
  assert.equal(v.body.visitor_id, 'vis-1');
  assert.equal(p.text('#p2-ru'), 'Офис: 8 (495) 000-00-01');
  p.close();
});

test('stored lease of another site key is ignored', async () => {
  const p = load(PAGE2, { storage: lease({ k: 'OTHER' }), routes: { visit: [500, null] } });
  assert.equal(p.text('#p2-ru'), 'Офис: 8 (495) 123-45-67');
  await sleep(30);
  assert.equal(p.calls.find((c) => c.path === 'visit').body.visitor_id, null);
  p.close();
});

for (const [name, route] of [
  ['HTTP 500', [500, null]],
  ['HTTP 204', [204, null]],
  ['timeout', 'hang'],
  ['malformed JSON', [200, 'not json']],
  ['wrong shape', [200, { visitor_id: 'v', session_id: 's', numbers: [{ original: RU, number: 'call me' }] }]],
  ['numbers missing', [200, { visitor_id: 'v', session_id: 's' }]],
  ['null body', [200, null]],
  ['fetch throws', () => { throw new TypeError('network down'); }],
]) {
  test(`visit failure (${name}) keeps the originals and throws nothing`, async () => {
    const p = load(PAGE1, { routes: { visit: route } });
    await sleep(CONFIG.timeout + 100);
    assertOriginal(p);
    assertUntouched(p);
    assert.equal(p.w.localStorage.getItem('_cpv'), null);
    assert.equal(p.calls.filter((c) => c.path === 'pageview').length, 0);
    assert.deepEqual(p.errors, []);
    p.close();
  });
}

test('content added later is swapped (MutationObserver), without loops', async () => {
  const p = load(PAGE1);
  await sleep(30);
  let mutations = 0;
  new p.w.MutationObserver((r) => { mutations += r.length; })
    .observe(p.d.body, { subtree: true, childList: true, characterData: true, attributes: true });
  const div = p.d.createElement('div');
  div.innerHTML = 'Call: <a href="tel:+74951234567">8 (495) 123-45-67</a> or 212.555.0199 <code>212.555.0199</code>';
  p.$('#later').appendChild(div);
  await sleep(10);
  assert.equal(div.innerHTML, 'Call: <a href="tel:+74950000001">8 (495) 000-00-01</a> or 310.555.0123 <code>212.555.0199</code>');
  // text changed later in an existing node
  p.$('#f-8sp').firstChild.data = 'Moscow (new): 8 495 123 45 67';
  await sleep(10);
  assert.equal(p.text('#f-8sp'), 'Moscow (new): 8 495 000 00 01');
  // a span inserted into an existing line completes a number split across elements
  const li = p.$('#f-e164');
  li.innerHTML = 'Moscow: <span>+7 (495)</span>';
  await sleep(10);
  li.appendChild(p.d.createTextNode(' 123-45-67'));
  await sleep(10);
  assert.equal(li.innerHTML, 'Moscow: <span>+7 (495)</span> 000-00-01');
  // href changed later
  p.$('#tel-8').setAttribute('href', 'tel:8-495-123-45-67');
  await sleep(10);
  assert.equal(p.$('#tel-8').getAttribute('href'), 'tel:8-495-000-00-01');
  const m = mutations;
  await sleep(50);
  assert.equal(mutations, m, 'no further mutations: our own writes are not re-processed into a loop');
  assert.ok(m < 30, `bounded number of mutations (${m})`);
  assertUntouched(p);
  p.close();
});

test('heartbeat 404: lease gone → /visit again → numbers re-swapped from the old tracking numbers', async () => {
  let beats = 0;
  const p = load(PAGE2, {
    url: 'https://shop.example/page2.html', referrer: 'https://shop.example/index.html',
    storage: lease(),
    config: { heartbeat: 5 },
    fast: 100,
    routes: {
      heartbeat: () => (++beats > 1 ? [404, null] : [200, { ttl: 900 }]),
      visit: [200, { ...VISIT_OK, session_id: 'ses-2', numbers: [{ original: RU, number: '+74950000009' }, { original: US, number: '+13105550999' }] }],
    },
  });
  assert.equal(p.text('#p2-ru'), 'Офис: 8 (495) 000-00-01');
  await sleep(200);
  const paths = p.calls.map((c) => c.path);
  assert.deepEqual(paths.slice(0, 2).sort(), ['heartbeat', 'pageview']);
  assert.ok(paths.includes('visit'), paths.join());
  assert.equal(p.text('#p2-ru'), 'Офис: 8 (495) 000-00-09');
  assert.equal(p.text('#p2-us'), 'US: 310-555-0999');
  assert.equal(p.$('#p2-tel').getAttribute('href'), 'tel:+13105550999');
  assert.equal(stored(p.w).s, 'ses-2');
  p.close();
});

test('heartbeat 410 and the re-visit fails: back to the original numbers, lease forgotten', async () => {
  const p = load(PAGE2, {
    url: 'https://shop.example/page2.html', referrer: 'https://shop.example/index.html',
    storage: lease(), routes: { heartbeat: [410, null], visit: [503, null] },
  });
  assert.equal(p.text('#p2-ru'), 'Офис: 8 (495) 000-00-01');
  await sleep(50);
  assert.equal(p.text('#p2-ru'), 'Офис: 8 (495) 123-45-67');
  assert.equal(p.text('#p2-us'), 'US: 212-555-0199');
  assert.equal(stored(p.w).n, null);
  p.close();
});

test('heartbeat interval: the config\'s, then the server\'s from /visit, kept within 5..300 s', async () => {
  for (const [config, server, expected] of [
    [45, 60, [45e3, 60e3]],
    [45, 45, [45e3]],
    [45, 1, [45e3, 5e3]],
    [45, 1e9, [45e3, 300e3]],
    [45, 'soon', [45e3]],
    [45, undefined, [45e3]],
    [45, -30, [45e3, 5e3]],
    [0.04, 30, [5e3, 30e3]],
    [undefined, 30, [30e3]],
    [1e12, 300, [300e3]],
  ]) {
    const p = load(PAGE1, { config: { heartbeat: config }, routes: { visit: [200, { ...VISIT_OK, heartbeat: server }] } });
    await sleep(30);
    assertSwapped(p);
    assert.deepEqual(p.intervals, expected, `config ${config}, /visit ${server}`);
    p.close();
  }
});

test('numbers the campaign does not swap stay exactly as they are', async () => {
  // The campaign swaps only the Moscow number; the server returns New York as itself.
  const p = load(PAGE1, {
    routes: { visit: [200, { ...VISIT_OK, numbers: [{ original: RU, number: RU_T }, { original: US, number: US }] }] },
  });
  const touched = new Set();
  new p.w.MutationObserver((rs) => rs.forEach((r) => touched.add(r.target.nodeType === 1 ? r.target : r.target.parentNode)))
    .observe(p.d.body, { subtree: true, childList: true, characterData: true, attributes: true });
  await sleep(30);
  assert.equal(p.text('#hdr-tel'), '+7 (495) 000-00-01');
  assert.equal(p.text('#f-8sp'), 'Moscow: 8 495 000 00 01');
  assert.equal(p.text('#f-two'), 'Both: 8 (495) 000-00-01, (212) 555-0199.');
  assert.equal(p.text('#dc-text'), '+7 495 000-00-01'); // no number named: the swapped one
  for (const id of ['f-us-par', 'f-us-dot', 'f-us-plus', 'tel-enc', 'dc-phone']) {
    assert.ok(![...touched].some((el) => el.closest(`#${id}`)), `#${id} was written to`);
  }
  assert.equal(p.text('#f-us-par'), 'New York: (212) 555-0199');
  assert.equal(p.text('#f-us-dot'), 'New York: 212.555.0199');
  assert.equal(p.text('#f-us-plus'), 'New York: +1 212-555-0199');
  assert.equal(p.$('#tel-enc').getAttribute('href'), 'tel:+1%20212%20555%200199');
  assert.equal(p.text('#dc-phone'), '8 800 000 00 00');
  assertUntouched(p);
  assert.deepEqual(stored(p.w).n, [[RU, RU_T], [US, US]]);
  p.close();
  // The other way round: only New York is swapped; Moscow stays, an unnamed
  // data-callpool element shows the swapped New York number.
  const q = load(PAGE1, {
    routes: { visit: [200, { ...VISIT_OK, numbers: [{ original: RU, number: RU }, { original: US, number: US_T }] }] },
  });
  await sleep(30);
  assert.equal(q.text('#hdr-tel'), '+7 (495) 123-45-67');
  assert.equal(q.$('#hdr-tel').getAttribute('href'), 'tel:+74951234567');
  assert.equal(q.text('#f-8sp'), 'Moscow: 8 495 123 45 67');
  assert.equal(q.$('#tel-8').getAttribute('href'), 'tel:84951234567');
  assert.equal(q.text('#f-two'), 'Both: 8 (495) 123-45-67, (310) 555-0123.');
  assert.equal(q.text('#f-us-dot'), 'New York: 310.555.0123');
  assert.equal(q.text('#dc-text'), '+1 310-555-0123');
  assert.equal(q.text('#dc-phone'), '8 310 555 01 23');
  assertUntouched(q);
  q.close();
});

test('an order number with the site number\'s digits stays; the phones around it are swapped', async () => {
  const p = load(ORDER, { url: 'https://shop.example/order.html' });
  await sleep(30);
  assert.equal(p.text('#order'), 'Заказ № 4951234567 оформлен');
  assert.equal(p.text('#contact'), 'Вопросы по заказу: +7 (495) 000-00-01');
  assert.equal(p.$('#contact-tel').getAttribute('href'), 'tel:+74950000001');
  // Digits labelled as something else, and a bare run, are no phone numbers.
  assert.equal(p.text('#labelled-ru'), 'ИНН: 495-123-45-67, артикул 8 495 123 45 67');
  assert.equal(p.text('#labelled-en'), 'Order #: (212) 555-0199 · Tracking code: 1 212 555 0199');
  assert.equal(p.text('#labelled-tr'), 'Sipariş No: 212 555 0199 · Takip kodu: 212-555-0199');
  assert.equal(p.text('#bare'), 'Сумма к оплате: 4951234567');
  // "No." / "#" after a phone word: phone numbers.
  assert.equal(p.text('#cues'), 'Tel. No. 8 495 000 00 01 · Phone #: (310) 555-0123');
  // A bare run in a tel: link (href and text), or marked with data-callpool: swapped.
  assert.equal(p.$('#bare-tel').getAttribute('href'), 'tel:84950000001');
  assert.equal(p.text('#bare-link'), 'Звоните: 84950000001');
  assert.equal(p.text('#bare-dc'), '84950000001');
  assert.equal(p.d.title, 'Заказ № 4951234567 оформлен');
  assert.deepEqual(p.errors, []);
  p.close();
});

test('data-callpool without a number: the site number written in it, else the first one swapped', async () => {
  const html = '<body><span id="a" data-callpool>12125550199</span><span id="b" data-callpool>Call us</span></body>';
  const p = load(html);
  await sleep(30);
  assert.equal(p.text('#a'), '13105550123');
  assert.equal(p.text('#b'), '+7 495 000-00-01');
  p.close();
});

test('a refused visit (403, e.g. origin not allowed): one console message with the reason, originals stay', async () => {
  const warnings = [];
  const message = "this page's origin is not allowed for site 'shop'";
  const p = load(PAGE1, {
    config: { heartbeat: 5 },
    fast: 100,
    routes: { visit: [403, { error: 'origin_not_allowed', message }] },
    before: (w) => { w.console.warn = (...args) => warnings.push(args.join(' ')); },
  });
  await sleep(250); // five heartbeat ticks
  assert.deepEqual(warnings, [`callpool: ${message}`]);
  assert.deepEqual(p.calls.map((c) => c.path), ['visit'], 'refused for good: not asked again');
  assertOriginal(p);
  assertUntouched(p);
  assert.equal(stored(p.w), null);
  assert.deepEqual(p.errors, []);
  p.close();
});

test('heartbeats only while visible; immediate heartbeat when visible again', async () => {
  let vis = 'visible';
  const p = load(PAGE2, {
    url: 'https://shop.example/page2.html', referrer: 'https://shop.example/index.html',
    storage: lease(), config: { heartbeat: 5 }, fast: 125,
    before: (w) => Object.defineProperty(w.document, 'visibilityState', { get: () => vis }),
  });
  const beats = () => p.calls.filter((c) => c.path === 'heartbeat').length;
  await sleep(100);
  assert.ok(beats() >= 2, `beats while visible: ${beats()}`);
  vis = 'hidden';
  p.d.dispatchEvent(new p.w.Event('visibilitychange'));
  const b = beats();
  await sleep(150);
  assert.equal(beats(), b, 'no heartbeats while hidden');
  vis = 'visible';
  p.d.dispatchEvent(new p.w.Event('visibilitychange'));
  await sleep(5);
  assert.equal(beats(), b + 1, 'immediate heartbeat on becoming visible');
  p.close();
});

test('SPA navigation: page view per pushState/replaceState/popstate URL change, new content swapped', async () => {
  const p = load(PAGE1, { beacon: true });
  await sleep(30);
  const pvs = async () => Promise.all(p.calls.filter((c) => c.path === 'pageview').map(async (c) => JSON.parse(c.beacon)));
  assert.equal((await pvs()).length, 1);
  p.w.history.pushState({}, '', '/spa/a');
  p.d.title = 'Route A';
  p.$('#later').innerHTML = '<p id="route">call <span>8 495 123 45 67</span></p>';
  await sleep(150);
  p.w.history.replaceState({}, '', '/spa/a#section'); // same page, hash only: no page view
  await sleep(150);
  p.w.history.replaceState({}, '', '/spa/b');
  await sleep(150);
  const list = await pvs();
  assert.deepEqual(list.map((x) => [x.url, x.referrer, x.title]), [
    ['https://shop.example/index.html', '', 'callpool test page 1 — call +7 (495) 123-45-67'],
    ['https://shop.example/spa/a', 'https://shop.example/index.html', 'Route A'],
    ['https://shop.example/spa/b', 'https://shop.example/spa/a', 'Route A'],
  ]);
  assert.equal(p.text('#route'), 'call 8 495 000 00 01');
  p.close();
});

test('consent required: nothing stored, consent:false, until callpool("consent", true)', async () => {
  const p = load(PAGE1, { config: { consent: { required: true, cookie: 'cookie_ok' } } });
  await sleep(30);
  assert.equal(p.calls[0].body.consent, false);
  assertSwapped(p); // numbers are still swapped for this page
  assert.equal(p.w.localStorage.getItem('_cpv'), null);
  assert.ok(!/_cpv/.test(p.d.cookie));
  p.w.callpool('consent', true);
  await sleep(30);
  const visits = p.calls.filter((c) => c.path === 'visit');
  assert.equal(visits.length, 2);
  assert.equal(visits[1].body.consent, true);
  assert.equal(visits[1].body.session_id, 'ses-1');
  assert.equal(stored(p.w).s, 'ses-1');
  p.w.callpool('consent', false);
  assert.equal(p.w.localStorage.getItem('_cpv'), null);
  p.close();
});

test('consent via the configured cookie, or via a call queued before the snippet loaded', async () => {
  const a = load(PAGE1, { config: { consent: { required: true, cookie: 'cookie_ok' } }, cookie: 'cookie_ok=1' });
  await sleep(30);
  assert.equal(a.calls[0].body.consent, true);
  assert.equal(stored(a.w).s, 'ses-1');
  a.close();
  let got;
  const b = load(PAGE1, {
    config: { consent: { required: true, cookie: 'cookie_ok' } },
    before: (w) => {
      w.eval("window.callpool = window.callpool || function(){(callpool.q=callpool.q||[]).push(arguments)};" +
        "callpool('consent', true); callpool('ready', function (n) { window.__got = n; });");
    },
  });
  await sleep(30);
  assert.equal(b.calls[0].body.consent, true);
  assert.equal(stored(b.w).s, 'ses-1');
  got = b.w.__got;
  assert.deepEqual(JSON.parse(JSON.stringify(got)), [{ original: RU, number: RU_T }, { original: US, number: US_T }]);
  b.close();
});

test('no consent stored: stored lease is not even read', async () => {
  const p = load(PAGE2, {
    url: 'https://shop.example/page2.html', referrer: 'https://shop.example/index.html',
    storage: lease(), config: { consent: { required: true, cookie: 'cookie_ok' } }, routes: { visit: [500, null] },
  });
  assert.equal(p.text('#p2-ru'), 'Офис: 8 (495) 123-45-67');
  await sleep(30);
  assert.equal(p.calls[0].body.visitor_id, null);
  p.close();
});

test('cookie fallback when localStorage is unavailable', async () => {
  const p = load(PAGE1, {
    before: (w) => Object.defineProperty(w, 'localStorage', { get() { throw new Error('SecurityError'); } }),
  });
  await sleep(30);
  assertSwapped(p);
  const m = p.d.cookie.match(/(?:^|; )_cpv=([^;]*)/);
  const s = JSON.parse(decodeURIComponent(m[1]));
  assert.equal(s.s, 'ses-1');
  p.close();
  // and the next page reads it back synchronously
  const q = load(PAGE2, {
    url: 'https://shop.example/page2.html', referrer: 'https://shop.example/index.html',
    cookie: `_cpv=${m[1]}`,
    before: (w) => Object.defineProperty(w, 'localStorage', { get() { throw new Error('SecurityError'); } }),
  });
  assert.equal(q.text('#p2-ru'), 'Офис: 8 (495) 000-00-01');
  q.close();
});

test('identity numbers (the visitor must see the site\'s own number) change nothing', async () => {
  const p = load(PAGE1, { routes: { visit: [200, { ...VISIT_OK, numbers: [{ original: RU, number: RU }, { original: US, number: US }] }] } });
  let mutations = 0;
  new p.w.MutationObserver((r) => { mutations += r.length; }).observe(p.d, { subtree: true, childList: true, characterData: true, attributes: true });
  await sleep(30);
  assertOriginal(p);
  assert.equal(mutations, 0);
  p.close();
});

test('no config (placeholder not replaced): does nothing, defines nothing', async () => {
  const p = load(PAGE1, { noConfig: true });
  await sleep(20);
  assert.equal(p.calls.length, 0);
  assert.equal(p.w.callpool, undefined);
  p.close();
});

test('config via window.__callpoolConfig also works', async () => {
  const p = load(PAGE1, { noConfig: true, before: (w) => { w.__callpoolConfig = CONFIG; } });
  await sleep(30);
  assertSwapped(p);
  p.close();
});

test('the only global is window.callpool', () => {
  const base = new JSDOM(PAGE1, { runScripts: 'outside-only', pretendToBeVisual: true }).window;
  const before = new Set(Object.getOwnPropertyNames(base));
  const p = load(PAGE1);
  const added = Object.getOwnPropertyNames(p.w).filter((k) => !before.has(k) && k !== 'fetch');
  assert.deepEqual(added, ['callpool']);
  base.close();
  p.close();
});
