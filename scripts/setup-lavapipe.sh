#!/usr/bin/env bash
# Mesa's lavapipe (software Vulkan with shader-f16) from bookworm-backports, unpacked under
# .cache/lavapipe without installing it system-wide: the Node WebGPU tests use it to check the
# f16 weight path, which SwiftShader cannot run. Debian's own Mesa 22.3 is too old for Dawn.
# Usage: scripts/setup-lavapipe.sh  → prints the ICD file to put in VK_ICD_FILENAMES.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="$PWD/.cache/lavapipe"
icd="$dest/lvp_icd.json"
if [ -f "$icd" ]; then echo "$icd"; exit 0; fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/lists/partial" "$scratch/cache/archives/partial" "$dest"
echo "deb http://deb.debian.org/debian bookworm-backports main" > "$scratch/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$scratch/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$scratch/lists" -o "Dir::Cache=$scratch/cache" -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" update -qq >&2
(cd "$scratch" && apt-get "${apt_opts[@]}" download -qq mesa-vulkan-drivers/bookworm-backports >&2)
dpkg-deb -x "$scratch"/mesa-vulkan-drivers_*.deb "$dest/root"
lib="$dest/root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so"
[ -f "$lib" ] || { echo "setup-lavapipe: $lib missing in the package" >&2; exit 1; }
printf '{"file_format_version":"1.0.0","ICD":{"api_version":"1.4.305","library_path":"%s"}}\n' "$lib" > "$icd"
echo "$icd"
