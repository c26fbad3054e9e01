// The playground in a real browser: Debian's chromium, headless, driven by playwright-core. The page is
// built and served from localhost (WebGPU needs a real origin), dequant_gemm with W=u3 runs on WebGPU
// (Chromium's SwiftShader) and on wasm (Web Workers) and agrees with the VM in the page, and a broken
// kernel shows its diagnostic at the right line. A screenshot goes to out/playground.png.

import { existsSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPlayground, servePlayground } from '../../scripts/playground.ts';

const CHROMIUM = process.env.TILEBIT_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

let browser: Browser;
let server: Server;
let page: Page;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: run scripts/setup-browser.sh (as root) or set TILEBIT_CHROMIUM`);
  await buildPlayground();
  const served = await servePlayground(0);
  server = served.server;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(served.url);
  await page.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
  expect(errors).toEqual([]);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
});

/** Clicks Run for `target` and waits for that run's result. */
async function runOn(target: string): Promise<{ state: string; ok: string | null; text: string }> {
  await page.selectOption('#target', target);
  const before = Number((await page.getAttribute('#result', 'data-run')) ?? '0');
  await page.click('#run');
  await page.waitForFunction((n) => {
    const r = document.getElementById('result')!;
    return Number(r.dataset.run) === n && (r.dataset.state === 'done' || r.dataset.state === 'error');
  }, before + 1, { timeout: 90_000 });
  return { state: (await page.getAttribute('#result', 'data-state'))!, ok: await page.getAttribute('#result', 'data-ok'), text: (await page.textContent('#result'))! };
}

describe('playground in chromium', () => {
  it('runs dequant_gemm with W=u3 on WebGPU and on wasm, both agreeing with the VM', async () => {
    expect(await page.textContent('#status')).toContain('WebGPU available');
    expect(await page.textContent('#status')).toContain('wasm workers on');
    await page.selectOption('#example', 'dequant_gemm');
    await page.fill('input[data-name=W]', 'u3');
    await page.waitForFunction(() => document.getElementById('view')!.textContent!.includes('u3['));
    for (const target of ['webgpu', 'wasm']) {
      // Chromium's SwiftShader runs in its GPU process; a run that errors (a lost device) is tried again,
      // a wrong result never is.
      let r = await runOn(target);
      for (let tries = 1; r.state === 'error' && tries < 3; tries++) r = await runOn(target);
      expect(r.state, r.text).toBe('done');
      expect(r.text).toMatch(target === 'webgpu' ? /WebGPU on / : /wasm on \d+ workers?/);
      expect(r.text).toMatch(/^c: agrees with the VM/m);
      expect(r.ok, r.text).toBe('true');
    }
    expect(await page.locator('#chart rect').count()).toBe(2);
    for (const [tab, marker] of [['wgsl', '@compute'], ['cuda', '__global__'], ['wasm', '(func $block']]) {
      await page.click(`#tabs button[data-view=${tab}]`);
      expect(await page.textContent('#view')).toContain(marker);
    }
    mkdirSync('out', { recursive: true });
    await page.click('#tabs button[data-view=wgsl]');
    await page.screenshot({ path: 'out/playground.png' });
  }, 240_000);

  it('marks a broken kernel at the right line and column', async () => {
    await page.selectOption('#example', 'vector_add');
    const source = (await page.inputValue('#source')).replace('load y[i0 :+ BLOCK]', 'load y[i0 :+ BLOCK] * nope');
    const lines = source.split('\n');
    const line = lines.findIndex((l) => l.includes('nope')) + 1;
    const column = lines[line - 1]!.indexOf('nope') + 1;
    await page.fill('#source', source);
    const item = page.locator('#diagnostics li').first();
    await item.waitFor({ timeout: 10_000 });
    expect(await item.getAttribute('data-line')).toBe(String(line));
    expect(await item.getAttribute('data-column')).toBe(String(column));
    expect(await item.textContent()).toContain(`${line}:${column}:`);
    expect(await item.textContent()).toContain('nope');
    expect(await page.getAttribute(`#gutter span[data-line="${line}"]`, 'class')).toBe('error');
    expect(await page.textContent('#highlight .diag')).toBe('nope');
    expect(await page.isDisabled('#run')).toBe(true);
    await page.screenshot({ path: 'out/playground-diagnostic.png' });
    // Mending the source clears the diagnostic.
    await page.fill('#source', source.replace(' * nope', ''));
    await page.waitForFunction(() => document.querySelectorAll('#diagnostics li').length === 0);
    expect(await page.isDisabled('#run')).toBe(false);
  }, 60_000);
});
