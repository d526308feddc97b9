#!/usr/bin/env bash
# Manual pages (config/man, built by scdoc): every installed binary and every shipped
# configuration file has its page, each page renders without a warning, has the
# sections a reader looks for, names every option its binary's --help lists (so a
# page cannot silently fall behind its binary) and refers only to pages that exist.
#
# Usage: man_test.sh SOURCE_DIR MAN_DIR NAME:SECTION:PROGRAM...
set -euo pipefail
src=$1 man=$2
shift 2
export LC_ALL=C.UTF-8 MANWIDTH=80
fail=0
bad() { echo "FAIL: $*"; fail=1; }

for tool in groff man; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (scripts/setup installs it)"; exit 1; }
done

pages=()
for entry in "$@"; do
  IFS=: read -r name section program <<<"$entry"
  page=$man/$name.$section
  [[ -f $page ]] || { bad "$name has no manual page $name.$section"; continue; }
  pages+=("$page")
  # Every option --help lists ("  -r, --root DIR", "      --status"), long and short.
  help=$("$program" --help)
  while read -r opt; do
    grep -qE -- "(^|[^a-z-])${opt}([^a-z-]|$)" "$page" || bad "$name.$section does not mention $opt (in $name --help)"
  done < <(sed -n '/^Options:$/,/^$/p' <<<"$help" | grep -oE '^ +(-[A-Za-z], )?--[a-z][a-z-]*' | grep -oE -- '-?-[A-Za-z][a-z-]*')
done
# Every shipped configuration file (config/*.yml, installed in /etc/guestkit).
for conf in "$src"/config/*.yml; do
  name=$(basename "$conf")
  [[ -f $man/$name.5 ]] && pages+=("$man/$name.5") || bad "$name has no manual page $name.5"
done
[[ -f $man/guestkit.7 ]] && pages+=("$man/guestkit.7") || bad "no guestkit.7 overview page"

for page in "${pages[@]}"; do
  p=$(basename "$page")
  out=$(groff -man -ww -z "$page" 2>&1) || bad "$p: groff failed"
  [[ -z $out ]] || bad "$p: groff -man -ww warns: $out"
  out=$(man --warnings -l "$page" 2>&1 >/dev/null) || bad "$p: man -l failed"
  [[ -z $out ]] || bad "$p: man -l warns: $out"
  text=$(man -l "$page" 2>/dev/null)
  for section in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" FILES EXAMPLES "SEE ALSO"; do
    grep -qx "$section" <<<"$text" || bad "$p has no $section section"
  done
  # References to guestkit's own pages must resolve.
  while read -r ref; do
    target=$(sed -E 's/^(.*)\(([0-9])\)$/\1.\2/' <<<"$ref")
    [[ -f $man/$target ]] || bad "$p refers to $ref, which does not exist"
  done < <(sed 's/\\&//g' "$page" | grep -oE '\\fB(guestkit[a-z.-]*|agent\.yml)\\fR\([0-9]\)' |
           sed -E 's/\\f[BR]//g' | sort -u)
done

((fail == 0)) && echo "${#pages[@]} manual pages checked"
exit "$fail"
