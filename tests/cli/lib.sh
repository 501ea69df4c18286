# Shared helpers for the CLI tests. Each test script sources this, runs real programs from $LMPIPE_BIN,
# and exits non-zero on the first failed expectation (set -e style, but with a message).
set -u
set -o pipefail
: "${LMPIPE_BIN:?set LMPIPE_BIN to the build's cmd directory}"
: "${LMPIPE_TEST_BIN:?set LMPIPE_TEST_BIN to the build's tests directory}"
: "${LMPIPE_SOURCE:?set LMPIPE_SOURCE to the source tree}"
export PATH="$LMPIPE_BIN:$LMPIPE_TEST_BIN:$PATH"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lmpipe-cli.XXXXXX")
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
cd "$WORK"
TESTS_RUN=0

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
  TESTS_RUN=$((TESTS_RUN + 1))
  [ "$1" == "$2" ] || fail "$3: expected [$2], got [$1]"
}

# expect_status CODE CMD... : runs CMD (stdout to out.txt, stderr to err.txt) and checks its exit status.
expect_status() {
  local want=$1
  shift
  TESTS_RUN=$((TESTS_RUN + 1))
  set +e
  "$@" > out.txt 2> err.txt
  local got=$?
  set -e
  [ "$got" == "$want" ] || fail "'$*' exited $got, expected $want; stderr: $(cat err.txt)"
}

# expect_error CODE MESSAGE CMD... : the command fails with CODE and stderr is exactly MESSAGE (one line).
expect_error() {
  local code=$1 message=$2
  shift 2
  expect_status "$code" "$@"
  expect_eq "$(cat err.txt)" "$message" "stderr of '$*'"
}

# expect_contains FILE TEXT
expect_contains() {
  TESTS_RUN=$((TESTS_RUN + 1))
  grep -qF -- "$2" "$1" || fail "$1 does not contain [$2]; it has: $(head -c 2000 "$1")"
}

done_testing() {
  echo "ok: $TESTS_RUN checks in $(basename "$0")"
}
set -e
