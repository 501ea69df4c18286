#!/usr/bin/env bash
# Every program has a man page, and every flag its --help lists appears in that page, so the two cannot
# drift apart. Flags are compared with roff's \- turned back into -.
source "$(dirname "$0")/lib.sh"

programs=$(sed -n 's/^set(LMPIPE_PROGRAMS \(.*\))$/\1/p' "$LMPIPE_SOURCE/cmd/CMakeLists.txt")
[ -n "$programs" ] || fail "no LMPIPE_PROGRAMS list in cmd/CMakeLists.txt"
for program in $programs; do
  page="$LMPIPE_SOURCE/man/man1/$program.1"
  [ -f "$page" ] || fail "$program has no man page ($page)"
  sed 's/\\-/-/g' "$page" > page.txt
  "$program" --help > help.txt
  for flag in $(grep -oE '(^|[ ,])--?[a-zA-Z][a-zA-Z0-9-]*' help.txt | tr -d ' ,' | sort -u); do
    TESTS_RUN=$((TESTS_RUN + 1))
    grep -qE -- "(^|[^a-zA-Z0-9-])$flag([^a-zA-Z0-9-]|$)" page.txt || fail "$program: $flag is in --help but not in $page"
  done
  for section in NAME SYNOPSIS DESCRIPTION OPTIONS EXAMPLES "EXIT STATUS"; do
    TESTS_RUN=$((TESTS_RUN + 1))
    grep -q "^\.SH \"\?$section" "$page" || fail "$page has no $section section"
  done
done
[ -f "$LMPIPE_SOURCE/man/man5/shard.5" ] || fail "man/man5/shard.5 is missing"
done_testing
