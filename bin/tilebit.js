#!/usr/bin/env node
// Runs the CLI from the TypeScript sources: no build step between a clone and `npx tilebit`.
await import('../src/register.mjs');
// `tilebit ... | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
