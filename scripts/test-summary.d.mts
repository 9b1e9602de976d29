// Types for test-summary.mjs (plain JavaScript: run-tests.mjs runs under node without tsx).
export interface SkipLogEntry {
  file: string;
  reason: string;
}
export interface FileSkips {
  file: string;
  count: number;
  reasons: string[];
}
export function readSkipLog(file: string | undefined): SkipLogEntry[];
export function vitestSkips(report: unknown, root: string): FileSkips[];
export function playwrightSkips(report: unknown, root: string): FileSkips[];
export function formatSkipSummary(files: FileSkips[], log?: SkipLogEntry[]): string[];
