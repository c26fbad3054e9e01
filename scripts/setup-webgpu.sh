#!/usr/bin/env bash
# Installs what WebGPU needs on a machine without a GPU: the Vulkan loader and the SwiftShader Vulkan
# driver that Debian ships inside chromium-common. Idempotent: a second run does nothing.
# The driver lands in .webgpu/swiftshader/; point VK_ICD_FILENAMES at its json (test/setup does).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/.webgpu/swiftshader"
if [ -f "$dest/vk_swiftshader_icd.json" ] && ldconfig -p | grep -q 'libvulkan.so.1'; then
  exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  # Not Debian-like: nothing to install this way; a machine with a GPU and a Vulkan driver needs nothing.
  echo "setup-webgpu: no apt-get here, so SwiftShader was not installed (WebGPU tests need a GPU or a Vulkan driver)" >&2
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  # Without root nothing can be installed; the WebGPU tests then fail unless the machine has a GPU.
  echo "setup-webgpu: not root, so the Vulkan loader and SwiftShader were not installed (run this script once as root)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  apt-get update -qq >/dev/null
  apt-get install -y -qq libvulkan1 >/dev/null
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -qq chromium-common >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download -qq chromium-common >/dev/null; })
dpkg-deb -x "$tmp"/chromium-common_*.deb "$tmp/x"
mkdir -p "$dest"
cp "$tmp/x/usr/lib/chromium/libvk_swiftshader.so" "$tmp/x/usr/lib/chromium/vk_swiftshader_icd.json" "$dest/"
echo "setup-webgpu: SwiftShader installed in $dest"
