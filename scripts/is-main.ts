/**
 * Whether the module at `moduleUrl` (its import.meta.url) is the script Node was started
 * with, so a script can also be imported by tests without running. Symlinked paths (npx,
 * node_modules/.bin) are resolved first.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return moduleUrl === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}
