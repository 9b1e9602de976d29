/**
 * Where the studio may fetch from: one definition for the built site's Content-Security-
 * Policy (`connect-src`, vite.config.ts) and for the engine worker's own check of Hub URLs.
 *
 * The check exists because a worker's fetches run under the policy of the worker script's
 * own response headers, not the page's <meta> policy: on a static host that sends no header
 * (see docs/hosting.md) the worker, which makes every Hub request, would otherwise fetch
 * from any host the Hub URL setting names, token included.
 */
import { StudioError } from '../errors';

export { hubConnectSources, PUBLIC_HUB_SOURCES } from './connect-sources';

/** The sources a policy allows fetches to: connect-src, else default-src; null when it has neither. */
export function connectSourcesOf(policy: string): string[] | null {
  const directives = new Map(
    policy
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...values]) => [name!.toLowerCase(), values]),
  );
  return directives.get('connect-src') ?? directives.get('default-src') ?? null;
}

/** What a worker checks Hub URLs against: CSP source expressions, and the site's origin for 'self'. */
export interface HubOriginPolicy {
  sources: readonly string[];
  /** The site's origin ('self'); null where there is none (Node). */
  self: string | null;
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

/** One CSP source expression against a URL (host sources, scheme sources, *, 'self'; paths ignored). */
function sourceMatches(source: string, url: URL, self: string | null): boolean {
  const s = source.trim();
  if (s === "'self'") return self !== null && new URL(self).origin === url.origin;
  if (s === '*') return url.protocol === 'http:' || url.protocol === 'https:';
  if (/^[a-z][a-z0-9+.-]*:$/i.test(s)) return url.protocol === s.toLowerCase() || (s.toLowerCase() === 'http:' && url.protocol === 'https:');
  const m = /^(?:([a-z][a-z0-9+.-]*):\/\/)?(\*\.)?([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(\d+|\*))?(?:\/.*)?$/i.exec(s);
  if (!m) return false;
  const [, scheme, wildcard, host, port] = m;
  // A scheme-less source takes the site's scheme; http sources also match https (CSP's upgrade rule).
  const want = scheme ? `${scheme.toLowerCase()}:` : self ? new URL(self).protocol : 'https:';
  if (!(url.protocol === want || (want === 'http:' && url.protocol === 'https:'))) return false;
  const h = url.hostname.toLowerCase();
  const base = host!.toLowerCase();
  if (wildcard ? !h.endsWith(`.${base}`) : h !== base) return false;
  if (port === '*') return true;
  const urlPort = url.port || DEFAULT_PORTS[url.protocol] || '';
  if (port) return urlPort === port;
  // No port in the source: the scheme's default port (80 also lets 443 through after upgrade).
  return urlPort === DEFAULT_PORTS[want] || (want === 'http:' && url.protocol === 'https:' && urlPort === '443');
}

export function originAllowed(url: string | URL, policy: HubOriginPolicy): boolean {
  const u = typeof url === 'string' ? new URL(url) : url;
  return policy.sources.some((s) => sourceMatches(s, u, policy.self));
}

/** Throws a StudioError naming the URL's origin and the allowed sources when it is not allowed. */
export function checkHubOrigin(url: string | URL, policy: HubOriginPolicy | null | undefined, what: string): void {
  if (!policy) return;
  const u = typeof url === 'string' ? new URL(url) : url;
  if (originAllowed(u, policy)) return;
  throw new StudioError(
    'input',
    `${what}: ${u.origin} is not a host this site may fetch from (its Content-Security-Policy connect-src allows ${policy.sources.join(' ')}); ` +
      'a studio for another Hub is built with STUDIO_HUB_URL set to it (docs/hosting.md)',
  );
}
