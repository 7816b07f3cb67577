#!/usr/bin/env bash
# Install (Debian packages) headless Chromium and ChromeDriver for the widget's browser tests
# (/usr/bin/chromium, /usr/bin/chromedriver), and a Chinese font so the screenshots of the
# Chinese labels are legible. Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(chromium chromium-driver fonts-wqy-zenhei)
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("${package}")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "$(chromium --version 2>/dev/null) ready at $(command -v chromium)"
