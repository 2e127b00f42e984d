// Regions an account can have: the ISO 3166-1 alpha-2 country codes (249). Like the original
// product, the region is chosen at registration (default from the system locale) and afterwards only
// an administrator changes it (`kpm-server admin set-region`).

export const REGIONS: readonly string[] = [
  'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ',
  'BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR',
  'CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR',
  'GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU',
  'ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ',
  'LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ',
  'MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF',
  'PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI',
  'SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR',
  'TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW',
].join(' ').split(' ');

const REGION_SET = new Set(REGIONS);

export const isRegion = (code: string): boolean => REGION_SET.has(code);

/**
 * The region of a locale such as "fr_FR.UTF-8", "de-AT" or "en-US-u-ca-gregory", or undefined.
 * POSIX locales (LANG, LC_ALL) and BCP 47 tags (Intl) are both understood.
 */
export function regionOfLocale(locale: string | undefined): string | undefined {
  if (!locale) return undefined;
  const tag = locale.split(/[.@]/)[0];
  for (const part of tag.split(/[-_]/).slice(1)) {
    const up = part.toUpperCase();
    if (/^[A-Z]{2}$/.test(up) && REGION_SET.has(up)) return up;
  }
  return undefined;
}
