/**
 * Hub repositories and their file URLs: `{base}/{owner}/{name}/resolve/{revision}/{file}`.
 *
 * Ids, revisions and file names come from people and from downloaded index files, so they
 * are checked before they become a URL: a ".." or an encoded slash must not move the
 * request to another path on the Hub host.
 */
import { StudioError } from '../errors';

export const DEFAULT_HUB_URL = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';

export interface HubRepo {
  /** "owner/name" */
  id: string;
  revision: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
/** Branch, tag or commit; Hub branches may contain slashes ("refs/pr/1"). */
const REVISION = /^[A-Za-z0-9._/-]{1,200}$/;
/** A file of the repository: plain names or sub folders, no "..", no leading slash. */
const FILE = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export function parseHubRepo(id: string, revision?: string | null): HubRepo {
  const trimmed = id.trim();
  const parts = trimmed.split('/');
  if (parts.length !== 2 || !parts.every((p) => NAME.test(p) && !p.includes('..'))) {
    throw new StudioError('input', `"${trimmed}" is not a Hub model id (expected owner/name, e.g. HuggingFaceTB/SmolLM2-135M)`);
  }
  const rev = (revision ?? '').trim() || DEFAULT_REVISION;
  if (!REVISION.test(rev) || rev.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new StudioError('input', `"${rev}" is not a valid revision (a branch, tag or commit hash)`);
  }
  return { id: trimmed, revision: rev };
}

/** True for strings that look like a Hub id (owner/name) rather than a path. */
export function looksLikeHubId(s: string): boolean {
  try {
    parseHubRepo(s);
    return !s.startsWith('.') && !s.startsWith('/');
  } catch {
    return false;
  }
}

/** The Hub base URL checked: http(s), no credentials, query or fragment. */
export function parseHubBaseUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    throw new StudioError('input', `Hub URL "${url}" is not a valid URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new StudioError('input', `Hub URL "${url}" must use http or https`);
  if (u.username || u.password) throw new StudioError('input', 'the Hub URL must not contain a user name or password; use the token field');
  if (u.search || u.hash) throw new StudioError('input', `Hub URL "${url}" must not have a query or fragment`);
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return u;
}

export function checkRepoFile(file: string): string {
  if (!FILE.test(file) || file.split('/').some((p) => p === '.' || p === '..')) {
    throw new StudioError('input', `"${file}" is not a valid file name in a Hub repository`);
  }
  return file;
}

export function hubFileUrl(base: string, repo: HubRepo, file: string): string {
  const b = parseHubBaseUrl(base);
  // The Hub takes a revision with slashes (refs/pr/1) as one encoded path segment.
  return new URL(`${repo.id}/resolve/${encodeURIComponent(repo.revision)}/${checkRepoFile(file)}`, b).href;
}

/** "owner/name@revision" for messages (revision only when not main). */
export function repoLabel(repo: HubRepo): string {
  return repo.revision === DEFAULT_REVISION ? repo.id : `${repo.id}@${repo.revision}`;
}
