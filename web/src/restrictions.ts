// Who may open a secret, as the sender types it on the create page: lists of IP addresses or
// ranges, countries and ASNs. Checked here only for what a person mistypes, so the message can
// name the entry; the server validates exactly and its refusals are shown as it words them.

/** Restrictions in the API's shape (`RestrictionsRequest`); absent lists restrict nothing. */
export interface Restrictions {
  allowed_ips?: string[];
  allowed_countries?: string[];
  allowed_asns?: number[];
}

export type RestrictionField = "ips" | "countries" | "asns";

/** An entry that cannot be what its field asks for. */
export class RestrictionError extends Error {
  constructor(
    readonly field: RestrictionField,
    readonly entry: string,
  ) {
    super(`${field}: ${entry}`);
  }
}

/** Entries may be separated by commas, semicolons, spaces or new lines. */
function entries(text: string): string[] {
  return text.split(/[\s,;]+/).filter((s) => s !== "");
}

// Leading zeros are refused, as the server's parser refuses them (they read as octal elsewhere).
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function isIpv6(s: string): boolean {
  if (!s.includes(":") || !/^[0-9A-Fa-f:.]+$/.test(s)) return false;
  // The browser's own IPv6 parser, through the URL host syntax.
  try {
    new URL(`http://[${s}]/`);
    return true;
  } catch {
    return false;
  }
}

function isIpOrRange(s: string): boolean {
  const [addr, len, extra] = s.split("/");
  if (extra !== undefined) return false;
  const max = IPV4.test(addr) ? 32 : isIpv6(addr) ? 128 : 0;
  if (!max) return false;
  return len === undefined || (/^\d{1,3}$/.test(len) && Number(len) <= max);
}

/** Reads the three fields; throws a `RestrictionError` naming the first bad entry. */
export function readRestrictions(ips: string, countries: string, asns: string): Restrictions {
  const out: Restrictions = {};
  const ipList = entries(ips);
  for (const ip of ipList) if (!isIpOrRange(ip)) throw new RestrictionError("ips", ip);
  if (ipList.length) out.allowed_ips = ipList;

  const countryList = entries(countries).map((c) => {
    if (!/^[A-Za-z]{2}$/.test(c)) throw new RestrictionError("countries", c);
    return c.toUpperCase();
  });
  if (countryList.length) out.allowed_countries = countryList;

  const asnList = entries(asns).map((a) => {
    const n = Number(/^(?:AS)?(\d{1,10})$/i.exec(a)?.[1] ?? NaN);
    if (!(n <= 0xffffffff)) throw new RestrictionError("asns", a);
    return n;
  });
  if (asnList.length) out.allowed_asns = asnList;
  return out;
}

export function isEmpty(r: Restrictions): boolean {
  return !r.allowed_ips && !r.allowed_countries && !r.allowed_asns;
}
