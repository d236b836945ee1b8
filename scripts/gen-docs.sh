#!/usr/bin/env bash
# scripts/gen-docs.sh: regenerates the config-key tables in the docs from the schemas themselves.
#
# A table in README.md or docs/*.md sits between two marker lines:
#   <!-- golf-host plugin gpt --markdown -->            (a plugin's keys)
#   <!-- golf-host plugin --host train --markdown -->   (golf-host's [run], [data] or [train])
#   ... generated, never edited by hand ...
#   <!-- end -->
# and is the output of that golf-host command. This script rewrites every such block in place; with
# --check it changes nothing and fails, naming the file, line and command, when a block differs
# (ctest docs_key_tables runs it so).
#
# Usage: scripts/gen-docs.sh [--check] [--golf-host PATH]   (default PATH: build/bin/golf-host)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
host="$root/build/bin/golf-host"
check=0
while (($#)); do
  case $1 in
    --check) check=1 ;;
    --golf-host) host=$2; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "gen-docs.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[[ -x $host ]] || { echo "gen-docs.sh: no golf-host at $host (build first, or pass --golf-host PATH)" >&2; exit 2; }
unset GOLF_PLUGIN_PATH  # only the built-in plugins beside golf-host: the docs describe those

stale=0
# Writes `file` with every block regenerated to stdout; names each block that differs on stderr
# and sets `stale`.
render() {
  local file=$1 line args block="" generated n=0 start=0 in_block=0
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    if ((in_block)); then
      if [[ $line == '<!-- end -->' ]]; then
        printf '%s\n' "$generated"
        printf '%s\n' "$line"
        if [[ $block != "$generated" ]]; then
          ((check)) && echo "${file#"$root"/}:$start: the table differs from \`golf-host $args\`; run scripts/gen-docs.sh to regenerate it" >&2
          stale=1
        fi
        in_block=0
      else
        block+="${block:+$'\n'}$line"
      fi
      continue
    fi
    printf '%s\n' "$line"
    if [[ $line =~ ^'<!-- golf-host '(.*)' -->'$ ]]; then
      args=${BASH_REMATCH[1]}
      if ! [[ $args =~ ^plugin\ [-A-Za-z0-9_\ ]*--markdown$ ]]; then
        echo "${file#"$root"/}:$n: only \`golf-host plugin ... --markdown\` may generate a table, not \`$args\`" >&2
        exit 2
      fi
      local argv
      read -r -a argv <<<"$args"
      generated=$("$host" "${argv[@]}") || { echo "${file#"$root"/}:$n: \`golf-host $args\` failed" >&2; exit 2; }
      block="" start=$n in_block=1
    fi
  done <"$file"
  if ((in_block)); then
    echo "${file#"$root"/}:$start: <!-- golf-host $args --> has no <!-- end --> after it" >&2
    exit 2
  fi
}

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for file in "$root"/README.md "$root"/docs/*.md; do
  grep -q '^<!-- golf-host ' "$file" || continue
  render "$file" >"$tmp"
  if ((!check)) && ! cmp -s "$tmp" "$file"; then
    cat "$tmp" >"$file"
    echo "regenerated ${file#"$root"/}"
  fi
done
if ((check && stale)); then exit 1; fi
exit 0
