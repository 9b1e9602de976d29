/**
 * Requests to the Hub with the token policy in one place.
 *
 * The token is sent only as `Authorization: Bearer …` and only to the configured Hub
 * origin. Redirects are followed here, hop by hop, so that a redirect to another host (the
 * Hub sends large files to a CDN) goes there without the token. Where the platform hides
 * redirects (a browser's `redirect: 'manual'` gives an opaque response), the request is
 * repeated with `redirect: 'follow'`: the Fetch standard drops Authorization when a
 * redirect crosses origins (browsers since Chrome/Edge 119, Firefox 111, Safari 16.1:
 * docs/hosting.md). The token never appears in a URL or in an error message, and is never
 * sent over plain http except to this machine (loopback).
 *
 * In the engine worker every URL, redirects included, must also be one the site's
 * Content-Security-Policy allows (`allowedOrigins`, see origins.ts).
 */
import { CancelledError, StudioError } from '../errors';
import { checkHubOrigin, type HubOriginPolicy } from './origins';
import { parseHubBaseUrl } from './repo';

export interface HubEndpoint {
  /** e.g. https://huggingface.co or a local test server. */
  baseUrl: string;
  /** Hub access token for gated or private repositories; kept out of everything but the header. */
  token?: string | null;
  fetchFn?: typeof fetch;
  /** The worker's connect-src (origins.ts): every request and redirect must match it. Absent in Node. */
  allowedOrigins?: HubOriginPolicy | null;
}

export interface HubRequest {
  /** Inclusive byte range [start, end]. */
  range?: [number, number];
  signal?: AbortSignal;
  /** What the request is for, in messages ("config.json of owner/name"). */
  what: string;
}

const MAX_REDIRECTS = 5;

function sameOrigin(a: string, b: URL): boolean {
  return new URL(a).origin === b.origin;
}

/** 127.0.0.0/8, localhost and [::1]: plain http there never leaves the machine. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  // URL has already normalized IPv4 spellings (0x7f.1, 2130706433) to dotted decimal.
  return h === 'localhost' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * The endpoint's base URL checked: a valid Hub URL, allowed by `allowedOrigins`, and with a
 * token only where it cannot be read on the way (https, or plain http to loopback).
 */
export function checkHubEndpoint(ep: HubEndpoint): URL {
  const base = parseHubBaseUrl(ep.baseUrl);
  checkHubOrigin(base, ep.allowedOrigins, `Hub URL ${base.origin}`);
  if (ep.token) {
    // A pasted token with a space or line break would make fetch throw a message quoting it.
    if (!/^[\x21-\x7e]+$/.test(ep.token)) throw new StudioError('input', 'the Hub token contains spaces, line breaks or other characters a token cannot have');
    if (base.protocol === 'http:' && !isLoopbackHost(base.hostname)) {
      throw new StudioError('input', `Hub URL ${base.origin} is plain http: a token would cross the network readable by anyone on the way; use https (plain http is accepted only for this machine: localhost, 127.0.0.0/8, [::1]), or remove the token`);
    }
  }
  return base;
}

/** A response with status 2xx, or a StudioError naming the file and what went wrong. */
export async function hubFetch(ep: HubEndpoint, url: string, req: HubRequest): Promise<Response> {
  const base = checkHubEndpoint(ep);
  const fetchFn = ep.fetchFn ?? fetch;
  const hide = (m: string) => (ep.token ? m.split(ep.token).join('[token]') : m);
  let target = url;
  let res: Response | null = null;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers = new Headers();
    if (req.range) headers.set('Range', `bytes=${req.range[0]}-${req.range[1]}`);
    checkHubOrigin(target, ep.allowedOrigins, hop === 0 ? req.what : `${req.what} (redirected)`);
    if (ep.token && sameOrigin(target, base)) headers.set('Authorization', `Bearer ${ep.token}`);
    try {
      res = await fetchFn(target, { headers, signal: req.signal, redirect: 'manual' });
      if (res.type === 'opaqueredirect') res = await fetchFn(target, { headers, signal: req.signal, redirect: 'follow' });
    } catch (e) {
      if (req.signal?.aborted) throw new CancelledError('download');
      throw new StudioError('fetch', hide(`${req.what}: request to ${new URL(target).host} failed (${(e as Error).message})`));
    }
    if (res.status >= 300 && res.status < 400 && res.status !== 304) {
      const location = res.headers.get('location');
      await res.body?.cancel().catch(() => {});
      if (!location) throw new StudioError('fetch', `${req.what}: HTTP ${res.status} redirect without a Location`);
      target = new URL(location, target).href;
      if (!/^https?:$/.test(new URL(target).protocol)) throw new StudioError('fetch', `${req.what}: redirect to a non-HTTP URL`);
      continue;
    }
    break;
  }
  if (!res || (res.status >= 300 && res.status < 400)) throw new StudioError('fetch', `${req.what}: more than ${MAX_REDIRECTS} redirects`);
  if (res.ok) return res;
  await res.body?.cancel().catch(() => {});
  if (res.status === 404) throw new StudioError('not-found', `${req.what}: not found (HTTP 404)`);
  if (res.status === 401 || res.status === 403) {
    const hint = ep.token
      ? 'the token given has no access to it (accept the model’s conditions on the Hub, or use another token)'
      : 'the repository is gated or private: give a Hub access token';
    throw new StudioError('fetch', `${req.what}: access denied (HTTP ${res.status}); ${hint}`);
  }
  if (res.status === 416) throw new StudioError('fetch', `${req.what}: byte range ${req.range?.join('-')} is beyond the file (HTTP 416)`);
  throw new StudioError('fetch', `${req.what}: HTTP ${res.status} ${res.statusText}`.trim());
}

/** Content-Length as a number, or null when absent or malformed. */
export function contentLength(res: Response): number | null {
  const h = res.headers.get('content-length');
  return h !== null && /^\d+$/.test(h) ? Number(h) : null;
}

/**
 * Reads bytes [start, end] of a file with a Range request; `size` is the whole file's
 * size (from Content-Range, or Content-Length when the server ignores ranges and sends
 * the whole file, of which only the needed prefix is read before the stream is cancelled).
 */
export async function readRange(ep: HubEndpoint, url: string, start: number, end: number, req: HubRequest): Promise<{ bytes: Uint8Array; size: number | null }> {
  const res = await hubFetch(ep, url, { ...req, range: [start, end] });
  let size: number | null = null;
  let skip = 0;
  if (res.status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
    if (!m || Number(m[1]) !== start) {
      await res.body?.cancel().catch(() => {});
      throw new StudioError('fetch', `${req.what}: the server answered the range request with Content-Range "${res.headers.get('content-range') ?? ''}"`);
    }
    size = m[3] === '*' ? null : Number(m[3]);
  } else {
    // HTTP 200: the whole file; skip to `start` and stop reading at `end`.
    size = contentLength(res);
    skip = start;
  }
  const want = end - start + 1;
  const out = new Uint8Array(want);
  let got = 0;
  let seen = 0;
  if (res.body) {
    const reader = res.body.getReader();
    try {
      while (got < want) {
        const { done, value } = await reader.read();
        if (done) break;
        let chunk = value;
        if (seen < skip) {
          const drop = Math.min(skip - seen, chunk.byteLength);
          seen += drop;
          chunk = chunk.subarray(drop);
        }
        const take = Math.min(chunk.byteLength, want - got);
        out.set(chunk.subarray(0, take), got);
        got += take;
      }
    } catch (e) {
      if (req.signal?.aborted) throw new CancelledError('download');
      throw new StudioError('fetch', `${req.what}: the transfer broke off (${(e as Error).message})`);
    } finally {
      await reader.cancel().catch(() => {});
    }
  }
  return { bytes: out.subarray(0, got), size };
}
