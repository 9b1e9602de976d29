/** The benchmarks' command line: `--name value` options and `--name` flags. */

/** `--name value` from the command line, or the fallback (undefined without one). */
export function cliOption(name: string, fallback: string, args?: string[]): string;
export function cliOption(name: string, fallback?: undefined, args?: string[]): string | undefined;
export function cliOption(name: string, fallback?: string, args = process.argv.slice(2)): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
}

/** Whether `--name` is on the command line. */
export function cliFlag(name: string, args = process.argv.slice(2)): boolean {
  return args.includes(`--${name}`);
}
