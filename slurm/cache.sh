#!/usr/bin/env bash
# slurm/cache.sh - the feature cache of the nightly retraining (issue 8).
#
#   cache.sh plan   CACHE_DIR DATA_ROOT NIGHT_DIR BACKBONE WEIGHTS [EXTRA_KEY]
#   cache.sh commit CACHE_DIR NIGHT_DIR
#
# The cache is CACHE_DIR/current -> gen.<id>/ holding
#   features.h5    the features of every image of the last successful night
#   manifest.tsv   one line per row of features.h5, same order:
#                  REL_PATH <tab> SIZE <tab> MTIME <tab> SHA256
#   key            what the features depend on besides the image: backbone,
#                  sha256 of the weights file, extra extract options
# `current` is a symlink replaced by rename, so a reader sees one whole
# generation or the previous one, never a mix.
#
# plan: lists DATA_ROOT/*/train/good/* images (png, tif, tiff, jpg, jpeg;
# sorted by relative path, LC_ALL=C), checksums every one (sha256, in
# parallel over the job's CPUs), compares with the cache and writes in NIGHT_DIR:
#   manifest.tsv  the current images with their keys (the next cache manifest)
#   union.rel     relative paths of all current images (the features order)
#   new.rel       relative paths to extract: new or changed (size, mtime or
#                 checksum differs), or all of them when the key changed
#   new.txt       the same as absolute paths (the list given to extract)
#   removed.rel   cached images that disappeared or changed
#   plan.env      N_TOTAL N_NEW N_CHANGED N_REMOVED N_REUSED KEY_CHANGED CACHE_GEN
# commit: makes NIGHT_DIR/features.h5 + manifest.tsv the new generation and
# keeps the previous one (older generations are deleted).
#
# Exit status: 0 ok, 2 usage, 3 no images / bad cache, 4 I/O.
set -euo pipefail
export LC_ALL=C

die() { local rc=$1; shift; echo "cache.sh: $*" >&2; exit "$rc"; }

plan() {
  [ $# -ge 5 ] || die 2 "usage: cache.sh plan CACHE_DIR DATA_ROOT NIGHT_DIR BACKBONE WEIGHTS [EXTRA_KEY]"
  local cache=$1 root=$2 night=$3 backbone=$4 weights=$5 extra=${6:-}
  [ -d "$root" ] || die 4 "$root: no such data directory"
  [ -f "$weights" ] || die 4 "$weights: no such weights file"
  mkdir -p "$cache" "$night" || die 4 "cannot create $cache or $night"
  root=$(cd "$root" && pwd -P)
  cache=$(cd "$cache" && pwd -P)
  night=$(cd "$night" && pwd -P)
  local jobs=${SLURM_CPUS_ON_NODE:-$(nproc 2>/dev/null || echo 1)}

  # the key of everything but the image itself
  local wsum
  wsum=$(sha256sum "$weights" | cut -d' ' -f1)
  printf 'backbone=%s\nweights_sha256=%s\nextract_args=%s\n' "$backbone" "$wsum" "$extra" >"$night/key"

  # current images: path, size, mtime (ns resolution where the file system has it)
  (cd "$root" && find -L . -path './*/train/good/*' -type f \
      \( -iname '*.png' -o -iname '*.tif' -o -iname '*.tiff' -o -iname '*.jpg' -o -iname '*.jpeg' \) \
      -printf '%P\t%s\t%T@\n') | sort -t $'\t' -k1,1 >"$night/stat.tsv"
  [ -s "$night/stat.tsv" ] || die 3 "$root: no training images (*/train/good/*.png|tif|tiff|jpg|jpeg)"
  # content checksums, in parallel; sha256sum prints "HASH  PATH"
  (cd "$root" && cut -f1 "$night/stat.tsv" | tr '\n' '\0' | xargs -0 -r -n 64 -P "$jobs" sha256sum) \
    | sed -e '/^\\/s/.*/BAD/' -e 's/^\([0-9a-f]\{64\}\)  /\1\t/' | awk -F'\t' '{ if (NF < 2) print; else print $2 "\t" $1 }' | sort -t $'\t' -k1,1 >"$night/sum.tsv"
  ! grep -qx BAD "$night/sum.tsv" || die 3 "$root: an image path has a backslash or a newline: not supported"
  join -t $'\t' "$night/stat.tsv" "$night/sum.tsv" >"$night/manifest.tsv"
  [ "$(wc -l <"$night/manifest.tsv")" = "$(wc -l <"$night/stat.tsv")" ] || die 4 "could not checksum every image"
  cut -f1 "$night/manifest.tsv" >"$night/union.rel"

  local cur=$cache/current key_changed=0 gen=none
  if [ -e "$cur/manifest.tsv" ] && [ -e "$cur/features.h5" ] && [ -e "$cur/key" ]; then
    gen=$(basename "$(readlink "$cur")")
    cmp -s "$cur/key" "$night/key" || key_changed=1
  else
    key_changed=1   # no cache yet: everything is new
    : >"$night/cache_empty"
  fi
  if [ "$key_changed" = 1 ]; then
    cp "$night/union.rel" "$night/new.rel"
    if [ -e "$cur/manifest.tsv" ]; then cut -f1 "$cur/manifest.tsv" >"$night/removed.rel"; else : >"$night/removed.rel"; fi
    : >"$night/kept.rel"
  else
    # unchanged = the whole line (path, size, mtime, checksum) is the same
    comm -12 <(sort "$cur/manifest.tsv") <(sort "$night/manifest.tsv") | cut -f1 | sort >"$night/kept.rel"
    comm -23 "$night/union.rel" "$night/kept.rel" >"$night/new.rel"
    comm -23 <(cut -f1 "$cur/manifest.tsv" | sort) "$night/kept.rel" >"$night/removed.rel"
  fi
  sed "s|^|$root/|" "$night/new.rel" >"$night/new.txt"
  local n_total n_new n_removed n_reused n_changed
  n_total=$(wc -l <"$night/union.rel")
  n_new=$(wc -l <"$night/new.rel")
  n_reused=$(wc -l <"$night/kept.rel")
  # changed = extracted again although the path was cached; removed = gone for good
  if [ "$key_changed" = 1 ]; then n_changed=0; else n_changed=$(comm -12 "$night/new.rel" "$night/removed.rel" | wc -l); fi
  n_removed=$(comm -23 "$night/removed.rel" "$night/union.rel" | wc -l)
  cat >"$night/plan.env" <<EOF
N_TOTAL=$n_total
N_NEW=$n_new
N_CHANGED=$n_changed
N_REMOVED=$n_removed
N_REUSED=$n_reused
KEY_CHANGED=$key_changed
CACHE_GEN=$gen
DATA_ROOT=$root
EOF
  rm -f "$night/stat.tsv" "$night/sum.tsv" "$night/cache_empty"
  echo "cache: $n_total images: $n_new to extract ($n_changed changed), $n_reused reused from cache $gen, $n_removed removed$([ "$key_changed" = 1 ] && [ "$gen" != none ] && echo '; backbone/weights/options changed: cache dropped')"
}

commit() {
  [ $# -eq 2 ] || die 2 "usage: cache.sh commit CACHE_DIR NIGHT_DIR"
  local cache=$1 night=$2
  [ -f "$night/features.h5" ] && [ -f "$night/manifest.tsv" ] && [ -f "$night/key" ] \
    || die 3 "$night: features.h5, manifest.tsv or key missing: nothing to commit"
  local id gen
  id=$(date +%Y%m%d-%H%M%S).${SLURM_JOB_ID:-$$}
  gen=$cache/gen.$id
  mkdir "$gen.tmp" || die 4 "cannot create $gen.tmp"
  # a hard link when the night and the cache share a file system, else a copy
  ln "$night/features.h5" "$gen.tmp/features.h5" 2>/dev/null || cp "$night/features.h5" "$gen.tmp/features.h5" \
    || { rm -rf "$gen.tmp"; die 4 "cannot copy features into $gen.tmp"; }
  cp "$night/manifest.tsv" "$night/key" "$gen.tmp/"
  mv "$gen.tmp" "$gen"
  local prev=""
  [ -L "$cache/current" ] && prev=$(readlink "$cache/current")
  ln -sfn "gen.$id" "$cache/current.tmp.$$"
  mv -T "$cache/current.tmp.$$" "$cache/current"
  # keep the new generation and the one before it
  local g
  for g in "$cache"/gen.*; do
    case "$(basename "$g")" in "gen.$id"|"$prev") ;; *) rm -rf "$g" ;; esac
  done
  echo "cache: committed gen.$id ($(wc -l <"$gen/manifest.tsv") images)"
}

case "${1:-}" in
  plan) shift; plan "$@" ;;
  commit) shift; commit "$@" ;;
  *) die 2 "usage: cache.sh plan CACHE_DIR DATA_ROOT NIGHT_DIR BACKBONE WEIGHTS [EXTRA_KEY] | commit CACHE_DIR NIGHT_DIR" ;;
esac
