/**
 * The IBAN candidate of pattern redaction: a country's code, two check digits and exactly as
 * many characters as that country's IBANs have (in groups of four with single spaces, as IBANs
 * are printed, or in one run), so that a match never runs into the text after it (an upper-case
 * word, a second IBAN) and is an IBAN whole or not at all. `isIbanChecksum` then checks the
 * mod-97 digits (ISO 7064), which one random candidate in 97 passes.
 */

/**
 * Each country's code and IBAN length: the SWIFT IBAN registry, and the countries added to it
 * since (Burundi, Djibouti, Russia, Somalia, …).
 */
const IBAN_LENGTHS =
  'AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DJ27 ' +
  'DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HN28 HR21 HU28 ' +
  'IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 MC27 MD24 ME22 ' +
  'MK19 MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 ' +
  'SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20 YE30';

/** One alternative per length: `(?:BE|…)\d{2}` and the rest in groups of four, spaces optional. */
function ibanSource(): string {
  const byLength = new Map<number, string[]>();
  for (const entry of IBAN_LENGTHS.split(' ')) {
    const country = entry.slice(0, 2);
    const length = Number(entry.slice(2));
    const list = byLength.get(length) ?? [];
    list.push(country);
    byLength.set(length, list);
  }
  const alternatives: string[] = [];
  for (const [length, countries] of byLength) {
    const rest = length - 4;
    const tail = rest % 4;
    alternatives.push(
      `(?:${countries.join('|')})\\d{2}(?: ?[A-Z0-9]{4}){${Math.floor(rest / 4)}}` +
        (tail === 0 ? '' : `(?: ?[A-Z0-9]{${tail}})`),
    );
  }
  // The lookahead turns most places away before the alternatives are tried one by one.
  return String.raw`(?<![\w.\]-])(?=[A-Z]{2}\d{2})(?:${alternatives.join('|')})(?![\w[])`;
}

export const IBAN = new RegExp(ibanSource(), 'g');

/** Two capitals and two digits: what every IBAN starts with, found without the alternatives. */
export const IBAN_HINT = /[A-Z]{2}\d{2}/;
