#!/usr/bin/env bash
# cmake --install puts the programs, the shipped vocabularies and corpus and the man pages under a prefix, and
# installed programs find their vocabularies beside themselves (or through LMPIPE_SHARE) from any directory.
source "$(dirname "$0")/lib.sh"
build=$(dirname "$LMPIPE_BIN")
prefix="$WORK/prefix"
cmake --install "$build" --prefix "$prefix" > install.log || fail "cmake --install: $(tail -n 5 install.log)"
for p in shard-cat tok-encode tok-train make-pairs make-chat mask-corpus pretrain sample; do
  [ -x "$prefix/bin/$p" ] || fail "$p is not installed"
  [ -f "$prefix/share/man/man1/$p.1" ] || fail "the man page of $p is not installed"
done
for f in share/man/man5/shard.5 share/lmpipe/vocab/gpt2/vocab.json share/lmpipe/vocab/gpt2/merges.txt \
         share/lmpipe/vocab/bert-base-uncased/vocab.txt share/lmpipe/corpus/tinyshakespeare.txt; do
  [ -f "$prefix/$f" ] || fail "$f is not installed"
done

# From another directory, by name.
mkdir -p elsewhere && cd elsewhere
expect_eq "$(printf 'Hello world\n' | "$prefix/bin/tok-encode" -v gpt2 --format ids)" "15496 995" "-v gpt2 from anywhere (one line: one document)"
# The installed share directory, not the source tree's: a "gpt2" that is really BERT's vocabulary shows which one is read.
rm -rf "$prefix/share/lmpipe/vocab/gpt2" && cp -r "$prefix/share/lmpipe/vocab/bert-base-uncased" "$prefix/share/lmpipe/vocab/gpt2"
expect_eq "$(printf 'Hello world\n' | "$prefix/bin/tok-encode" -v gpt2 --format ids)" "7592 2088" \
  "installed programs read the vocabularies installed beside them"
# LMPIPE_SHARE comes first.
expect_eq "$(printf 'Hello world\n' | LMPIPE_SHARE="$LMPIPE_SOURCE/share" "$prefix/bin/tok-encode" -v gpt2 --format ids)" \
  "15496 995" "LMPIPE_SHARE"
cd ..

done_testing
