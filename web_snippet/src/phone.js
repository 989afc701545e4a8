// callpool — pure phone-number matcher / formatter (no DOM, testable in node).
//
// Terms: an E.164 number "+74951234567" = country code (cc "7") + national
// significant number (nsn "4951234567"). A displayed number is its nsn digits,
// optionally preceded by a prefix: "+7", "7", "007", "+44 (0)" or the national
// trunk prefix ("8" for cc 7, "1" for cc 1, "0" otherwise).

// ITU country codes: 1 and 7 are one digit, the listed two-digit ones, else three.
const CC = /^(1|7|2[07]|3[0-469]|4[013-9]|5[1-8]|6[0-6]|8[1246]|9[0-58]|\d{3})/;

// Characters allowed between the digits of a phone number: any white space
// (incl. nbsp U+00A0, figure/thin/narrow nbsp U+2007/2009/202F), dots,
// hyphen/dashes/minus, brackets, slash.
const S = '[\\s.\\-\\u2010-\\u2015\\u2212()/]';

/** "+7 (495) 123-45-67" / "74951234567" → {e164, cc, nsn} or null. */
export function parse(num) {
  const d = String(num).replace(/\D/g, '');
  const m = d.length > 7 && d.length < 16 && d.match(CC);
  return m ? { e164: '+' + d, cc: m[1], nsn: d.slice(m[1].length) } : null;
}

// Near-miss filters applied to a candidate match (see README "Matching rules").
// An IPv4 address or thousands grouping (212.55.50.199, 4 951 234 567).
const SHAPES = /^\d{1,3}((\.\d{1,3}){3}|([.\s])\d{3}(\3\d{3})+)$/;
// What the last 30 characters before the digits say they are. No phone after
//  - a letter, digit, "_" or "+", or a digit and one of . - / , (12.4951234567);
//  - another country code ("+1 ");
//  - a sign: #, №, No, N, code, kodu, код ("Order #", "Sipariş No", "Takip kodu"),
//    unless a phone word comes first ("Tel. No.", "Phone #": group 1 is set);
//  - the label of an order, article, tax or company id, invoice or parcel, alone
//    or with its "number" (Russian, English, Turkish): order, invoice, tracking,
//    fatura, sipariş, takip, заказ, артикул, ИНН, ОГРН, трек; number, numarası, id, номер.
// Cyrillic and № are escaped below: the bundle is pure ASCII (build.mjs checks).
const MARK = /[\w+]$|\d[.\-/,]$|(tel|phone|gsm|cep|fax)?\S*\s*(#|\u2116|\bno?|\bkodu?|code|\u043a\u043e\u0434)[\s.:#\u2116-]*$|\+\d{1,3}\s?$|(order|invoice|tracking|fatura|sipari\S*|takip|\u0437\u0430\u043a\u0430\u0437|\u0430\u0440\u0442\u0438\u043a\u0443\u043b|\u0438\u043d\u043d|\u043e\u0433\u0440\u043d|\u0442\u0440\u0435\u043a)([\s-](number|numaras\S*|id|\u043d\u043e\u043c\u0435\u0440))?[\s.:#\u2116-]*$/i;

/**
 * buildMatcher(["+74951234567", ...]) → { find(text, bare) }.
 * find returns [{start, end, text, e164}] — non-overlapping, in order; e164 is
 * the list entry (normalised to "+digits") that matched. A bare digit run
 * ("84951234567": no "+", no separator) matches only when `bare` is true.
 */
export function buildMatcher(list) {
  const nums = [];
  const alts = [];
  for (const n of list) {
    const p = parse(n);
    if (!p) continue;
    const trunk = { 7: '8', 1: '1' }[p.cc] || '0';
    nums.push(p.e164);
    // An optional prefix, then the national digits with up to 3 separators between any two.
    alts.push('((?:\\(?(?:(?:\\+|00)?' + p.cc + '(?:' + S + '{0,2}\\(0\\))?|' + trunk + ')' +
      S + '{0,3})?\\(?' + p.nsn.split('').join(S + '{0,3}') + ')');
  }
  const re = alts.length ? new RegExp(alts.join('|'), 'g') : null;
  return {
    find(text, bare) {
      const out = [];
      if (!re || !/\d/.test(text)) return out;
      re.lastIndex = 0;
      let m;
      while ((m = re.exec(text))) {
        const s = m.index;
        const e = s + m[0].length;
        const t = m[0];
        const k = MARK.exec(text.slice(s > 30 ? s - 30 : 0, s));
        if (k && !k[1]) {
          // Labelled as something else: no part of it is a phone either.
          re.lastIndex = e;
          continue;
        }
        if (
          /^(\w|[.\-/,]\d)/.test(text.slice(e, e + 2)) || (!bare && !/\D/.test(t)) ||
          (!/^[+(0]/.test(t) && SHAPES.test(t))
        ) {
          re.lastIndex = s + 1;
          continue;
        }
        out.push({ start: s, end: e, text: t, e164: nums[m.slice(1).findIndex((g) => g)] });
      }
      return out;
    },
  };
}

// International display formats by country code for 10-digit national numbers.
const MASKS = { 7: '### ###-##-##', 1: '###-###-####' };

/** "+74950000001" → "+7 495 000-00-01"; "+12125550199" → "+1 212-555-0199". */
export function intl(num) {
  const p = parse(num);
  if (!p) return String(num);
  const s = p.nsn;
  let i = 0;
  const mask = s.length === 10 ? MASKS[p.cc] : s.length === 9 && '# ## ## ## ##';
  return `+${p.cc} ` + (mask ? mask.replace(/#/g, () => s[i++]) : s.replace(/(\d{3})(?=\d{4})/g, '$1 '));
}

/**
 * The number newNum written in the format of originalText (which shows
 * originalNum, or — when originalNum is omitted — some number with as many
 * national digits as newNum). Every non-digit and the prefix digits stay where
 * they are; the national significant digits are replaced right-aligned
 * (extra new digits go in front of the first one; missing ones are dropped
 * from the left). A change of country code falls back to intl(newNum).
 */
export function formatLike(originalText, newNum, originalNum) {
  const n = parse(newNum);
  if (!n) return originalText;
  const o = originalNum ? parse(originalNum) : n;
  const chars = originalText.split('');
  const pos = [];
  chars.forEach((c, i) => /\d/.test(c) && pos.push(i));
  const len = o ? o.nsn.length : 0;
  if (!o || o.cc !== n.cc || pos.length < len) return intl(newNum);
  const at = pos.slice(pos.length - len);
  const d = n.nsn;
  const extra = d.length - len;
  for (let j = 0; j < len; j++) chars[at[j]] = d[j + extra] || '';
  if (extra > 0) chars[at[0]] = d.slice(0, extra + 1);
  return chars.join('');
}

/** True if s looks like nothing but a phone number (7–15 digits). */
export function isPhoneText(s) {
  const d = s.replace(/\D/g, '').length;
  return d > 6 && d < 16 && RegExp('^\\s*\\+?(' + S + '|\\d)*$').test(s);
}
