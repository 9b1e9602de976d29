/**
 * The hosts the studio may fetch from, as CSP source expressions: the single definition
 * behind the built site's connect-src (vite.config.ts) and the engine worker's own check of
 * Hub URLs (origins.ts). No imports, so that vite.config.ts can load it as it is.
 */

/** The public Hub (repo.ts's DEFAULT_HUB_URL). */
const PUBLIC_HUB = 'https://huggingface.co';

/**
 * Hosts the public Hub serves files from: the Hub itself, and the CDN and storage hosts its
 * `resolve` URLs redirect to (cdn-lfs*.hf.co, cas-bridge.xethub.hf.co, *.cdn.hf.co: the
 * lfsDomains and cdnDomains of https://huggingface.co/.well-known/meta.json).
 */
export const PUBLIC_HUB_SOURCES = [PUBLIC_HUB, 'https://*.huggingface.co', 'https://hf.co', 'https://*.hf.co'];

/** connect-src of a build whose Hub is `hubUrl`: the site, and that Hub (with its download hosts for the public Hub). */
export function hubConnectSources(hubUrl: string = PUBLIC_HUB): string[] {
  const hub = new URL(hubUrl).origin;
  return ["'self'", ...(hub === PUBLIC_HUB ? PUBLIC_HUB_SOURCES : [hub])];
}
