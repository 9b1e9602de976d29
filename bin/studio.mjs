#!/usr/bin/env node
// The `studio` command: runs the TypeScript CLI in src/cli through tsx's loader, so the
// CLI and the browser share the engine's sources with no separate build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
