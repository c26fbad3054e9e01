// WebGPU in Node.js: Dawn from the `webgpu` package. When no Vulkan driver gives an adapter and the
// SwiftShader driver that scripts/setup-webgpu.sh installs is in .webgpu/swiftshader, that driver is
// used (VK_ICD_FILENAMES). Only the WebGPU runtime loads this module, and only outside browsers.

import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SWIFTSHADER_ICD = join(dirname(fileURLToPath(import.meta.url)), '../../.webgpu/swiftshader/vk_swiftshader_icd.json');

/** Dawn's GPU object (for its WGSL language features) and its first adapter. */
export async function nodeAdapter(): Promise<{ gpu: GPU; adapter: GPUAdapter | null }> {
  const webgpu = await import('webgpu');
  Object.assign(globalThis, webgpu.globals);
  if (!process.env.XDG_RUNTIME_DIR) {
    const dir = join(tmpdir(), 'tilebit-xdg');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
  const gpu = webgpu.create([]);
  const adapter = await gpu.requestAdapter();
  if (adapter || process.env.VK_ICD_FILENAMES || !existsSync(SWIFTSHADER_ICD)) return { gpu, adapter };
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  const fallback = webgpu.create([]);
  return { gpu: fallback, adapter: await fallback.requestAdapter() };
}
