// Table-driven tests for the pure matcher/formatter (node --test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildMatcher, formatLike, intl, isPhoneText, parse } from '../src/phone.js';

const RU = '+74951234567';
const RU_MOB = '+79161234567';
const US = '+12125550199';
const UK = '+442079460958';
const DE = '+493012345678';
const FR = '+33123456789';
const SITE = [RU, RU_MOB, US, UK, DE, FR];
const m = buildMatcher(SITE);
const NBSP = '\u00a0';
const NNBSP = '\u202f';

// [text as shown, which site number it is]
const FORMATS = [
  // RU
  ['+7 (495) 123-45-67', RU],
  ['8 495 123 45 67', RU],
  ['8 (495) 123-45-67', RU],
  ['+74951234567', RU],
  ['7 (495) 123-45-67', RU],
  ['+7(495)123-45-67', RU],
  ['+7 495 123-45-67', RU],
  ['+7-495-123-45-67', RU],
  ['+7.495.123.45.67', RU],
  ['(495) 123-45-67', RU],
  ['495 123 45 67', RU],
  [`+7${NBSP}495${NBSP}123${NBSP}45${NBSP}67`, RU],
  [`8${NNBSP}495${NNBSP}123‑45‑67`, RU], // narrow nbsp + non-breaking hyphen
  ['8 – 495 – 123 – 45 – 67', RU], // en dashes with spaces
  ['+7 916 123-45-67', RU_MOB],
  ['8-916-123-45-67', RU_MOB],
  ['007 495 123 45 67', RU],
  // US
  ['(212) 555-0199', US],
  ['212.555.0199', US],
  ['+1 212-555-0199', US],
  ['212-555-0199', US],
  ['1-212-555-0199', US],
  ['1 (212) 555-0199', US],
  ['+1 (212) 555 0199', US],
  ['+12125550199', US],
  ['212 555 0199', US],
  // UK
  ['+44 20 7946 0958', UK],
  ['020 7946 0958', UK],
  ['+44 (0)20 7946 0958', UK],
  ['+44 (0) 20 7946 0958', UK],
  ['(020) 7946 0958', UK],
  ['0044 20 7946 0958', UK],
  ['+442079460958', UK],
  // DE
  ['+49 30 12345678', DE],
  ['030 12345678', DE],
  ['030/12345678', DE],
  ['(030) 123 456 78', DE],
  ['+49 (0)30 1234 5678', DE],
  ['030-1234-5678', DE],
  // FR
  ['+33 1 23 45 67 89', FR],
  ['01 23 45 67 89', FR],
  ['01.23.45.67.89', FR],
  ['+33 (0)1 23 45 67 89', FR],
  ['0033 1 23 45 67 89', FR],
];

// Bare digit runs: no "+", no separator, nothing that says "phone". Matched only
// where the site opts in (find(text, true): tel: links, [data-callpool-digits]).
const BARE = [
  ['84951234567', RU],
  ['74951234567', RU],
  ['4951234567', RU],
  ['89161234567', RU_MOB],
  ['2125550199', US],
  ['12125550199', US],
  ['02079460958', UK],
  ['03012345678', DE],
  ['0123456789', FR],
];

const CONTEXTS = [['', ''], ['Call us: ', '.'], ['Тел.: ', ', ежедневно'], ['[', ']'], ['<', '>'], ['\n\t', ' \n']];

for (const [shown, e164] of FORMATS) {
  test(`matches ${JSON.stringify(shown)} as ${e164}`, () => {
    for (const [pre, post] of CONTEXTS) {
      const text = pre + shown + post;
      const r = m.find(text);
      assert.equal(r.length, 1, `${JSON.stringify(text)} → ${JSON.stringify(r)}`);
      assert.equal(r[0].e164, e164);
      assert.equal(r[0].text, shown, JSON.stringify(text));
      assert.equal(r[0].start, pre.length);
      assert.equal(r[0].end, pre.length + shown.length);
    }
  });
}

for (const [shown, e164] of BARE) {
  test(`matches the bare run ${JSON.stringify(shown)} as ${e164} only when the site opts in`, () => {
    for (const [pre, post] of CONTEXTS) {
      const text = pre + shown + post;
      assert.deepEqual(m.find(text), [], JSON.stringify(text));
      const r = m.find(text, true);
      assert.equal(r.length, 1, `${JSON.stringify(text)} → ${JSON.stringify(r)}`);
      assert.equal(r[0].e164, e164);
      assert.deepEqual([r[0].start, r[0].end, r[0].text], [pre.length, pre.length + shown.length, shown]);
    }
  });
}

// Must NOT match anything (near misses / other numbers / unbounded runs).
const NEAR_MISSES = [
  '12.03.2024',
  '2024-03-12',
  '12/03/2024 14:30',
  '1 234 567 ₽',
  '$1,234,567',
  '4 951 234 567 ₽',
  '4 951 234 567 руб.',
  '4951234567 ₽',
  '€ 4951234567',
  '$2125550199',
  '4.951.234.567',
  '4,951,234,567',
  '4951234567,89',
  '#4951234567890',
  'Order #4951234567',
  '№4951234567',
  'Заказ №84951234567',
  '84951234567890',
  '184951234567',
  '4951234567123',
  '+84951234567',
  '+1 4951234567', // other country code, then our digits
  '14951234567',
  '94951234567',
  'ID4951234567',
  'abc4951234567',
  'x_2125550199',
  '2125550199_',
  '4951234567-890',
  '4951234567.12',
  '12.4951234567',
  '212.55.50.199', // IPv4
  '21.25.55.01', // IPv4-ish
  '101000', // postal code
  'SW1A 1AA',
  '75008 Paris',
  '10:30–19:00',
  '495 123 45 6', // one digit short
  '495 123 45 68', // one digit different
  '+7 (495) 123-45-68',
  '8 495 123 45 678',
  '(212) 555-0198',
  '212-555-01999',
  '020 7946 0959',
  '+44 20 7946 09588',
  '01 23 45 67 88',
  '030 1234567', // one digit short
  'ISBN 978-4951234567',
  '4-9-5-1-2-3-4-5-6-7-8',
  '',
  'no digits at all',
];

for (const text of NEAR_MISSES) {
  test(`does not match ${JSON.stringify(text)}`, () => {
    assert.deepEqual(m.find(text), []);
  });
}

// The text marks the digits as something other than a phone: a sign or "No."
// (with or without a space), or a word for an order, article, tax or company id,
// invoice or parcel before them (Russian, English, Turkish). Not a phone even
// where bare runs are allowed.
const LABELLED = [
  'Заказ № 4951234567',
  'Заказ № 495 123-45-67',
  'Заказ N 8 (495) 123-45-67',
  '№ 8 (495) 123-45-67',
  'No. 495 123 45 67',
  'No.4951234567',
  '# 212-555-0199',
  'Order # 212-555-0199',
  'Order #: (212) 555-0199',
  'Order no. 212.555.0199',
  'order number 2125550199',
  'ORDER ID: 212-555-0199',
  'Invoice 212-555-0199',
  'Invoice No: 212 555 0199',
  'Tracking code: 4951234567',
  'Tracking number 212-555-0199',
  'Tracking # 1 212 555 0199',
  'Артикул: 495-123-45-67',
  'артикул 4951234567',
  'ИНН 4951234567',
  'ИНН: 495-123-45-67',
  'ОГРН: 8 495 123 45 67',
  'Счёт № 495 123 45 67',
  'Трек-номер: 495 123 45 67',
  'трек номер 4951234567',
  'Sipariş No: 495 123 45 67',
  'sipariş no 4951234567',
  'Fatura No: 212-555-0199',
  'fatura 2125550199',
  'Fatura numarası: 212 555 0199',
  'Vergi No: 495 123 45 67',
  'Vergi no 4951234567',
  'Takip kodu: 495 123 45 67',
  'Kargo takip numarası: 212-555-0199',
  'TAKİP NO: 212 555 0199',
];

for (const text of LABELLED) {
  test(`does not match the labelled ${JSON.stringify(text)}`, () => {
    assert.deepEqual(m.find(text), []);
    assert.deepEqual(m.find(text, true), [], 'with bare runs allowed');
  });
}

// A phone word before "No." / "#", or an order word that is not the digits' label:
// still a phone number.
const PHONE_CUES = [
  ['Tel. No. 8 495 123 45 67', '8 495 123 45 67'],
  ['Telefon No: +7 495 123-45-67', '+7 495 123-45-67'],
  ['Phone #: (212) 555-0199', '(212) 555-0199'],
  ['Phone no. 212-555-0199', '212-555-0199'],
  ['GSM No: 8 916 123-45-67', '8 916 123-45-67'],
  ['Телефон для заказа: 8 (495) 123-45-67', '8 (495) 123-45-67'],
  ['Для заказов: 8 495 123 45 67', '8 495 123 45 67'],
  ['Заказать звонок: +7 495 123-45-67', '+7 495 123-45-67'],
  ['Заказ такси: 8 (495) 123-45-67', '8 (495) 123-45-67'],
  ['Order by phone: (212) 555-0199', '(212) 555-0199'],
  ['To order, call 212-555-0199', '212-555-0199'],
  ['Orders: +1 212-555-0199', '+1 212-555-0199'],
  ['Sipariş hattı: +44 20 7946 0958', '+44 20 7946 0958'],
  ['Офис № 5, тел. 8 495 123 45 67', '8 495 123 45 67'],
  ['Casino 8 495 123 45 67', '8 495 123 45 67'],
  ['Тариф Стандарт: 8 495 123 45 67', '8 495 123 45 67'],
];

for (const [text, shown] of PHONE_CUES) {
  test(`still matches the phone in ${JSON.stringify(text)}`, () => {
    assert.deepEqual(m.find(text).map((x) => x.text), [shown]);
  });
}

test('several numbers in one string, each bounded', () => {
  const text = 'Москва: 8 (495) 123-45-67, моб. +7 916 123-45-67; NY (212) 555-0199 / 212.555.0199';
  const r = m.find(text);
  assert.deepEqual(r.map((x) => [x.text, x.e164]), [
    ['8 (495) 123-45-67', RU],
    ['+7 916 123-45-67', RU_MOB],
    ['(212) 555-0199', US],
    ['212.555.0199', US],
  ]);
  for (const x of r) assert.equal(text.slice(x.start, x.end), x.text);
});

test('space-separated neighbours and a following time still match', () => {
  assert.equal(m.find('8 495 123 45 67 8 916 123 45 67').length, 2);
  assert.equal(m.find('(212) 555-0199 9am–6pm').length, 1);
});

test('a miss inside a run does not hide a later real match', () => {
  const r = m.find('84951234567890 and 8 495 123 45 67');
  assert.deepEqual(r.map((x) => x.start), [19]);
});

test('buildMatcher ignores invalid entries and handles an empty list', () => {
  assert.deepEqual(buildMatcher([]).find('8 495 123 45 67'), []);
  assert.deepEqual(buildMatcher(['', 'abc', '123']).find('123'), []);
  assert.equal(buildMatcher(['bogus', RU]).find('8 495 123 45 67')[0].e164, RU);
  assert.equal(buildMatcher(['8 (495) 123-45-67'.replace(/^8/, '+7')]).find('84951234567', true)[0].e164, RU);
});

// [original text, its number, new number, expected]
const ROUND_TRIPS = [
  ['+7 (495) 123-45-67', RU, '+74950000001', '+7 (495) 000-00-01'],
  ['8 495 123 45 67', RU, '+74950000001', '8 495 000 00 01'],
  ['8 (495) 123-45-67', RU, '+74950000001', '8 (495) 000-00-01'],
  ['+74951234567', RU, '+74950000001', '+74950000001'],
  ['84951234567', RU, '+74950000001', '84950000001'],
  ['7 (495) 123-45-67', RU, '+74950000001', '7 (495) 000-00-01'],
  ['(495) 123-45-67', RU, '+74950000001', '(495) 000-00-01'],
  [`+7${NBSP}495${NBSP}123-45-67`, RU, '+74950000001', `+7${NBSP}495${NBSP}000-00-01`],
  ['8 495 123 45 67', RU, '+78129876543', '8 812 987 65 43'],
  ['(212) 555-0199', US, '+13105550123', '(310) 555-0123'],
  ['212.555.0199', US, '+13105550123', '310.555.0123'],
  ['+1 212-555-0199', US, '+13105550123', '+1 310-555-0123'],
  ['1-212-555-0199', US, '+13105550123', '1-310-555-0123'],
  ['+44 20 7946 0958', UK, '+442079460000', '+44 20 7946 0000'],
  ['020 7946 0958', UK, '+442079460000', '020 7946 0000'],
  ['+44 (0)20 7946 0958', UK, '+442079460000', '+44 (0)20 7946 0000'],
  ['030 12345678', DE, '+493087654321', '030 87654321'],
  ['+49 (0)30 1234 5678', DE, '+493087654321', '+49 (0)30 8765 4321'],
  ['01 23 45 67 89', FR, '+33198765432', '01 98 76 54 32'],
  ['+33 1 23 45 67 89', FR, '+33198765432', '+33 1 98 76 54 32'],
  // the visitor must see the site's own number: identity
  ['8 (495) 123-45-67', RU, RU, '8 (495) 123-45-67'],
  // different national length: digits right-aligned, extra ones go in front of
  // the first national digit, missing ones are dropped from the left (so the
  // grouping shifts; tracking numbers normally have the original's length)
  ['030 12345678', DE, '+4930123456789', '0301 23456789'],
  ['030 12345678', DE, '+49301234567', '03 01234567'],
  ['+49 30 1234 5678', DE, '+49301234567', '+49 3 0123 4567'],
  // different country code: international format
  ['8 (495) 123-45-67', RU, '+12125550100', '+1 212-555-0100'],
];

for (const [orig, num, next, want] of ROUND_TRIPS) {
  test(`formatLike ${JSON.stringify(orig)} → ${next} = ${JSON.stringify(want)}`, () => {
    assert.equal(formatLike(orig, next, num), want);
    // and back again (same national length only)
    if (parse(next).nsn.length === parse(num).nsn.length && parse(next).cc === parse(num).cc) {
      assert.equal(formatLike(want, num, next), orig);
    }
  });
}

test('formatLike without the original number uses the new number\'s length', () => {
  assert.equal(formatLike('+7 (999) 999-99-99', '+74950000001'), '+7 (495) 000-00-01');
  assert.equal(formatLike(' 8 800 000 00 00 ', '+74950000001'), ' 8 495 000 00 01 ');
  assert.equal(formatLike('123', '+74950000001'), '+7 495 000-00-01');
  assert.equal(formatLike('whatever', 'not a number'), 'whatever');
});

test('every match round-trips through formatLike inside its context', () => {
  for (const [shown, e164] of [...FORMATS, ...BARE]) {
    const next = e164.slice(0, -4) + '0001';
    const text = `Call ${shown} now`;
    const [r] = m.find(text, true);
    const out = text.slice(0, r.start) + formatLike(r.text, next, r.e164) + text.slice(r.end);
    // non-digits untouched, same length, the new number now matches instead
    assert.equal(out.replace(/\d/g, '#'), text.replace(/\d/g, '#'), out);
    const m2 = buildMatcher([next]).find(out, true);
    assert.equal(m2.length, 1, out);
    assert.equal(m2[0].e164, next);
  }
});

test('intl', () => {
  assert.equal(intl('+74950000001'), '+7 495 000-00-01');
  assert.equal(intl('+12125550199'), '+1 212-555-0199');
  assert.equal(intl('+442079460958'), '+44 207 946 0958');
  assert.equal(intl('+33123456789'), '+33 1 23 45 67 89');
  assert.equal(intl('+493012345678'), '+49 301 234 5678');
  assert.equal(intl('junk'), 'junk');
});

test('parse', () => {
  assert.deepEqual(parse('+7 (495) 123-45-67'), { e164: RU, cc: '7', nsn: '4951234567' });
  assert.deepEqual(parse(US), { e164: US, cc: '1', nsn: '2125550199' });
  assert.deepEqual(parse(UK), { e164: UK, cc: '44', nsn: '2079460958' });
  assert.deepEqual(parse('+380441234567'), { e164: '+380441234567', cc: '380', nsn: '441234567' });
  assert.equal(parse('123'), null);
  assert.equal(parse('+1234567890123456'), null);
});

test('isPhoneText', () => {
  for (const s of ['+7 (495) 123-45-67', ' 8 495 123 45 67\n', '(212) 555-0199', '01.23.45.67.89']) assert.ok(isPhoneText(s), s);
  for (const s of ['Call us', 'Tel: 8 495 123 45 67', '123', '', '+7 495 123 45 67 ext 1']) assert.ok(!isPhoneText(s), s);
});
