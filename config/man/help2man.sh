#!/bin/sh
# One manual page from a binary's --help and --version (GNU layout, which every
# guestkit binary follows). The whatis line is the --help text's second line.
# Usage: help2man.sh HELP2MAN PROGRAM SECTION OUTPUT
set -eu
help2man=$1 prog=$2 section=$3 out=$4
name=$("$prog" --help | sed -n '2{s/\.$//;p;}')
[ -n "$name" ] || { echo "help2man.sh: $prog --help has no description line" >&2; exit 1; }
exec "$help2man" --no-info --no-discard-stderr --section="$section" --name="$name" \
  --output="$out" "$prog"
