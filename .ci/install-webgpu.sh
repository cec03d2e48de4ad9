#!/usr/bin/env bash
# Installs what WebGPU (Dawn for Node, npm `webgpu`) needs on a GPU-less Debian 12 machine: Mesa's
# lavapipe software Vulkan driver. Plain bookworm ships Mesa 22, which Dawn refuses; bookworm-backports
# has Mesa 25. Run as root. Idempotent: a second run changes nothing.
set -euo pipefail

sources=/etc/apt/sources.list.d/debian.sources

# Add bookworm-backports to the Suites line of the Debian source that already lists bookworm
# (not the debian-security one), once.
if ! grep -q 'bookworm-backports' "$sources"; then
  sed -i -E 's/^(Suites:.*\bbookworm\b( |$).*)$/\1 bookworm-backports/' "$sources"
fi
grep -q 'bookworm-backports' "$sources" || { echo "install-webgpu: could not add bookworm-backports to $sources" >&2; exit 1; }

if dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -q 'bpo'; then
  echo "install-webgpu: mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) already installed"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers
echo "install-webgpu: mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) installed"
