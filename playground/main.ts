// The playground page: an editor for `.tile` source with highlighting from the TextMate grammar, the
// kernel's settings as fields, the generated code per target, diagnostics at their line and column,
// and a Run button that runs the kernel on WebGPU or wasm (or the VM), checks it against the VM and
// charts the time per target. Everything compiles and runs in the page.

import { examples, grammar } from 'virtual:tilebit-assets';
import { scopeClass, tokenizer } from './highlight.ts';
import { type Compiled, type Marker, type PageTarget, type RunResult, compileForPage, runForPage, webGpuAvailable } from './session.ts';

/** Sizes and scalars that make each example run in about a second on the VM. */
const PRESETS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  vector_add: { N: '5000' },
  softmax: { M: '8', N: '700' },
  matmul: { M: '64', K: '96', N: '64' },
  dequant_gemm: { M: '16', K: '256', N: '128' },
  flash_attention: { H: '1', S: '64', scale: '0.125', D: '16', BQ: '16', BKV: '16' },
};

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const exampleSelect = $<HTMLSelectElement>('example');
const targetSelect = $<HTMLSelectElement>('target');
const runButton = $<HTMLButtonElement>('run');
const status = $('status');
const sourceArea = $<HTMLTextAreaElement>('source');
const highlight = $('highlight');
const gutter = $('gutter');
const settingsBox = $('settings');
const diagnostics = $('diagnostics');
const view = $('view');
const result = $('result');
const chart = $<SVGSVGElement & HTMLElement>('chart');

const tokenize = tokenizer(grammar);
const settings = new Map<string, string>();
let compiled: Compiled | null = null;
let activeView: 'tileIr' | 'wgsl' | 'cuda' | 'wasm' = 'tileIr';
const times = new Map<PageTarget, RunResult>();
let hasWebGpu = false;
let runs = 0;

const escape = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Offsets of each line's start, to turn markers' lines and columns into offsets. */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') starts.push(i + 1);
  return starts;
}

/** The source as highlighted HTML, with each marker's span underlined. */
function renderSource(text: string, markers: readonly Marker[]): string {
  const classes: string[] = new Array(text.length).fill('');
  for (const t of tokenize(text)) for (let i = t.start; i < t.end; i++) classes[i] = scopeClass(t.scope);
  const starts = lineStarts(text);
  const offset = (line: number, column: number): number => Math.min(text.length, (starts[line - 1] ?? text.length) + column - 1);
  const bad = new Array<boolean>(text.length).fill(false);
  for (const m of markers) {
    const from = offset(m.line, m.column);
    const to = Math.max(from + 1, offset(m.endLine, m.endColumn));
    for (let i = from; i < to && i < text.length; i++) if (text[i] !== '\n') bad[i] = true;
  }
  let html = '';
  for (let i = 0; i < text.length;) {
    let j = i + 1;
    while (j < text.length && classes[j] === classes[i] && bad[j] === bad[i] && text[j] !== '\n' && text[i] !== '\n') j++;
    const cls = [classes[i], bad[i] ? 'diag' : ''].filter(Boolean).join(' ');
    const piece = escape(text.slice(i, j));
    html += cls ? `<span class="${cls}">${piece}</span>` : piece;
    i = j;
  }
  return html + '\n';
}

function drawEditor(): void {
  const text = sourceArea.value;
  const markers = compiled?.markers ?? [];
  highlight.innerHTML = renderSource(text, markers);
  const errorLines = new Set(markers.map((m) => m.line));
  gutter.innerHTML = lineStarts(text).map((_, i) => `<span data-line="${i + 1}"${errorLines.has(i + 1) ? ' class="error"' : ''}>${i + 1}</span>`).join('\n');
  sourceArea.style.height = `${highlight.scrollHeight}px`;
  sourceArea.style.width = `${Math.max(highlight.scrollWidth, sourceArea.parentElement!.clientWidth)}px`;
}

function drawSettings(): void {
  const known = compiled?.settings ?? [];
  const focused = document.activeElement instanceof HTMLInputElement ? document.activeElement.dataset.name : undefined;
  settingsBox.innerHTML = known.map((s) =>
    `<label class="${s.kind}" title="${s.kind === 'template' ? 'template parameter' : s.kind === 'size' ? 'size of a tensor dimension' : `scalar parameter (${s.placeholder})`}">${escape(s.name)}` +
    ` <input data-name="${escape(s.name)}" value="${escape(settings.get(s.name) ?? '')}" placeholder="${escape(s.placeholder)}"></label>`).join('');
  if (focused) (settingsBox.querySelector(`input[data-name="${focused}"]`) as HTMLInputElement | null)?.focus();
}

function drawDiagnostics(): void {
  diagnostics.innerHTML = (compiled?.markers ?? []).map((m) => `<li data-line="${m.line}" data-column="${m.column}">${m.line}:${m.column}: ${escape(m.message)}</li>`).join('');
}

function drawView(): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>('#tabs button')) b.classList.toggle('active', b.dataset.view === activeView);
  const a = compiled?.[activeView];
  if (!a) return;
  view.classList.toggle('error', !a.ok);
  view.textContent = a.ok ? a.text : a.error;
}

function drawChart(): void {
  const rows = (['webgpu', 'wasm', 'vm'] as const).flatMap((t) => (times.has(t) ? [times.get(t)!] : []));
  const width = chart.clientWidth || 400;
  const barHeight = 22;
  const labelWidth = 70;
  const max = Math.max(...rows.map((r) => r.ms), 1e-3);
  chart.setAttribute('height', String(rows.length * (barHeight + 6)));
  chart.innerHTML = rows.map((r, i) => {
    const y = i * (barHeight + 6);
    const w = Math.max(2, ((width - labelWidth - 90) * r.ms) / max);
    return `<text x="0" y="${y + 15}">${r.target}</text>` +
      `<rect x="${labelWidth}" y="${y}" width="${w}" height="${barHeight}" class="${r.ok ? '' : 'bad'}" data-target="${r.target}"></rect>` +
      `<text x="${labelWidth + w + 6}" y="${y + 15}">${r.ms.toFixed(2)} ms</text>`;
  }).join('');
}

function recompile(): void {
  compiled = compileForPage(sourceArea.value, settings);
  drawEditor();
  drawSettings();
  drawDiagnostics();
  drawView();
  runButton.disabled = compiled.kernel === null;
}

let pending = 0;
function recompileSoon(): void {
  clearTimeout(pending);
  pending = window.setTimeout(recompile, 200);
}

function loadExample(name: string): void {
  sourceArea.value = examples[name]!;
  settings.clear();
  for (const [k, v] of Object.entries(PRESETS[name] ?? {})) settings.set(k, v);
  times.clear();
  drawChart();
  result.dataset.state = 'idle';
  result.textContent = '';
  recompile();
}

async function run(): Promise<void> {
  if (!compiled?.kernel) return;
  const choice = targetSelect.value;
  const target: PageTarget = choice === 'auto' ? (hasWebGpu ? 'webgpu' : 'wasm') : (choice as PageTarget);
  runButton.disabled = true;
  result.dataset.state = 'running';
  result.dataset.target = target;
  result.dataset.run = String(++runs);
  result.textContent = `running on ${target}…`;
  try {
    const r = await runForPage(compiled.kernel, target, settings);
    times.set(target, r);
    result.dataset.state = 'done';
    result.dataset.ok = String(r.ok);
    result.textContent = [
      `${target} (${r.detail}): ${r.ms.toFixed(2)} ms`,
      ...r.checks.map((c) => `${c.name}: ${c.ok ? 'agrees with' : 'DISAGREES with'} the VM (largest error ${c.maxError.toPrecision(3)}, tolerance ${c.tolerance.toPrecision(3)}${c.mismatches ? `, ${c.mismatches} elements beyond it` : ''})`),
    ].join('\n');
  } catch (e) {
    result.dataset.state = 'error';
    result.textContent = `${target}: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    runButton.disabled = compiled?.kernel === null;
    drawChart();
  }
}

function start(): void {
  exampleSelect.innerHTML = Object.keys(examples).map((n) => `<option value="${n}">${n}</option>`).join('');
  exampleSelect.addEventListener('change', () => loadExample(exampleSelect.value));
  targetSelect.addEventListener('change', () => undefined);
  sourceArea.addEventListener('input', () => {
    drawEditor();
    recompileSoon();
  });
  sourceArea.addEventListener('keydown', (e) => {
    if (e.key === 'Tab') {
      e.preventDefault();
      sourceArea.setRangeText('    ', sourceArea.selectionStart, sourceArea.selectionEnd, 'end');
      sourceArea.dispatchEvent(new Event('input'));
    }
  });
  settingsBox.addEventListener('input', (e) => {
    const input = e.target as HTMLInputElement;
    const name = input.dataset.name!;
    if (input.value.trim() === '') settings.delete(name);
    else settings.set(name, input.value.trim());
    recompileSoon();
  });
  for (const b of document.querySelectorAll<HTMLButtonElement>('#tabs button')) {
    b.addEventListener('click', () => {
      activeView = b.dataset.view as typeof activeView;
      drawView();
    });
  }
  runButton.addEventListener('click', () => void run());
  const first = 'dequant_gemm' in examples ? 'dequant_gemm' : Object.keys(examples)[0]!;
  exampleSelect.value = first;
  loadExample(first);
  void webGpuAvailable().then((ok) => {
    hasWebGpu = ok;
    status.textContent = `compiler loaded · WebGPU ${ok ? 'available' : 'not available: runs use wasm'} · ${crossOriginIsolated ? 'wasm workers on' : 'wasm on the page thread'}`;
    document.body.dataset.ready = 'true';
  });
}

start();
