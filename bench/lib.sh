# Shell functions the bench scripts share; source it after setting $work (a scratch directory).

# measure OUTFILE CMD...: runs CMD with its stdout to OUTFILE; prints its peak RSS in KiB. A failing CMD
# shows its stderr and ends the script.
measure() {
  local out=$1; shift
  /usr/bin/time -o "$work/time" -f "%M" "$@" > "$out" 2> "$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
  cat "$work/time"
}

# median: the median of the numbers on stdin, separated by spaces or newlines (the lower middle one of an
# even count).
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# best CMD...: the best wall seconds of 3 runs of CMD (its output discarded).
best() {
  local b=""
  for _ in 1 2 3; do
    /usr/bin/time -o "$work/t" -f "%e" "$@" > /dev/null 2> /dev/null
    local t
    t=$(cat "$work/t")
    if [ -z "$b" ] || awk -v a="$t" -v c="$b" 'BEGIN{exit !(a < c)}'; then b=$t; fi
  done
  echo "$b"
}
