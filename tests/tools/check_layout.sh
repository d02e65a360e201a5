#!/usr/bin/env bash
# tests/tools/check_layout.sh - checks the source tree against the layer map
# (README "Where things live", docs/DESIGN.md 7). Reads sources only; builds
# nothing, needs only bash, grep and awk.
#   (a) includes point down the layers only: src/ includes nothing from mpi/,
#       gen/, inputs/, tests/ or bench/; mpi/ nothing from gen/, inputs/,
#       tests/ or bench/; gen/ nothing from mpi/, inputs/, tests/ or bench/;
#       and no src/ file but the HDF5 layer (h5fmt.c, h5fmt.h) and the error
#       agreement (agree.c, agree.h) includes mpi.h.
#   (b) no function in src/, mpi/ or gen/ is longer than MAX_LINES [120]
#       lines, counted from the first line of its signature to its closing
#       brace; each offender is printed as file:line, length and name.
#   (c) every dataset name of model.h5, scores.h5 and the tail/ group (the
#       lists below, from docs/DESIGN.md 5) appears, as a C string literal,
#       in exactly one .c file of src/ and mpi/: the module that owns that
#       layout (src/model_io.c, src/scores_io.c, src/tail_io.c; and
#       index.h5's, src/ivf_io.c), so a layout
#       is changed in one place.
# Usage: tests/tools/check_layout.sh [ROOT]   (ROOT: the source tree, default
# this script's tree). Prints one line per check, offenders indented under a
# failed one, and "N passed, N failed" last; exits 1 when any check fails.
set -uo pipefail
ROOT=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT" || exit 2
MAX_LINES=${MAX_LINES:-120}
shopt -s nullglob
passed=0
failed=0

# report NAME OFFENDERS: one check's verdict; OFFENDERS is one per line
report() {
  if [ -z "$2" ]; then
    echo "ok   $1"
    passed=$((passed + 1))
  else
    echo "FAIL $1"
    printf '%s\n' "$2" | sed 's/^/       /'
    failed=$((failed + 1))
  fi
}

# ---- (a) includes --------------------------------------------------------

# quoted_includes FILE...: "file:line header" for every #include "header"
quoted_includes() {
  awk 'match($0, /^[ \t]*#[ \t]*include[ \t]*"[^"]+"/) {
         h = substr($0, RSTART, RLENGTH); sub(/^[^"]*"/, "", h); sub(/"$/, "", h)
         print FILENAME ":" FNR " " h }' "$@"
}

# forbidden_includes DIR FORBIDDEN...: includes of DIR's files that resolve
# to a header of a forbidden folder. A quoted include is looked up next to
# the including file first (the compiler's rule), so a header of the same
# name in DIR wins; a path naming a forbidden folder always counts.
forbidden_includes() {
  local dir=$1
  shift
  local files=("$dir"/*.c "$dir"/*.h)
  [ ${#files[@]} -eq 0 ] && return
  quoted_includes "${files[@]}" | while read -r where header; do
    local f bad=""
    for f in "$@"; do
      case "/$header" in */"$f"/*) bad="$f/${header##*/}" ;; esac
    done
    if [ -z "$bad" ] && [ ! -e "$dir/$header" ]; then
      for f in "$@"; do
        [ -e "$f/$header" ] && { bad="$f/$header"; break; }
      done
    fi
    [ -n "$bad" ] && echo "$where: includes $bad"
  done
}

report "(a) src/ includes nothing from mpi/, gen/, inputs/, tests/, bench/" \
  "$(forbidden_includes src mpi gen inputs tests/unit tests/tools bench)"
report "(a) mpi/ includes nothing from gen/, inputs/, tests/, bench/" \
  "$(forbidden_includes mpi gen inputs tests/unit tests/tools bench)"
report "(a) gen/ includes nothing from mpi/, inputs/, tests/, bench/" \
  "$(forbidden_includes gen mpi inputs tests/unit tests/tools bench)"

# src/ is serial: only the parallel-HDF5 layer and the error agreement it
# shares with mpi/ see MPI
MPI_ALLOWED=" src/h5fmt.c src/h5fmt.h src/agree.c src/agree.h "
mpi_users=""
for f in src/*.c src/*.h; do
  case "$MPI_ALLOWED" in *" $f "*) continue ;; esac
  hits=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]mpi\.h[>"]' "$f" | cut -d: -f1)
  for l in $hits; do mpi_users+="$f:$l: includes mpi.h"$'\n'; done
done
report "(a) no src/ file but h5fmt and agree includes mpi.h" "${mpi_users%$'\n'}"

# ---- (b) function length -------------------------------------------------

# Prints "file:line length name" per function definition. Comments, strings,
# character constants and preprocessor lines (with their continuations) are
# blanked first so their braces do not count; a definition is a top-level
# brace block whose text before the brace ends with ')'.
FUNCLEN_AWK='
FNR == 1 { depth = 0; cand = 0; text = ""; incomment = 0; inmacro = 0; isfn = 0 }
{
  raw = $0
  if (inmacro || (!incomment && raw ~ /^[ \t]*#/)) { inmacro = (raw ~ /\\$/); next }
  line = ""; n = length(raw); i = 1
  while (i <= n) {
    c = substr(raw, i, 1); c2 = substr(raw, i, 2)
    if (incomment) { if (c2 == "*/") { incomment = 0; i += 2 } else i++; continue }
    if (c2 == "/*") { incomment = 1; i += 2; line = line " "; continue }
    if (c2 == "//") break
    if (c == "\"" || c == "\047") {
      q = c; i++
      while (i <= n && substr(raw, i, 1) != q) i += (substr(raw, i, 1) == "\\") ? 2 : 1
      i++; line = line q q; continue
    }
    line = line c; i++
  }
  for (j = 1; j <= length(line); j++) {
    c = substr(line, j, 1)
    if (depth == 0) {
      if (!cand && c !~ /[ \t{};]/) { cand = FNR; text = "" }
      if (c == ";") { cand = 0; text = ""; continue }
      if (c == "{") {
        t = text; sub(/[ \t]+$/, "", t)
        isfn = cand && t ~ /\)$/; start = cand; sig = t; cand = 0; text = ""
      } else if (cand) text = text c
    }
    if (c == "{") depth++
    else if (c == "}") {
      depth--
      if (depth == 0 && isfn) {
        name = sig; sub(/\(.*/, "", name); sub(/.*[ \t*]/, "", name)
        printf "%s:%d %d %s\n", FILENAME, start, FNR - start + 1, name
        isfn = 0
      }
    }
  }
  if (depth == 0 && cand) text = text " "
}'

for dir in src mpi gen; do
  files=("$dir"/*.c "$dir"/*.h)
  long=""
  if [ ${#files[@]} -gt 0 ]; then
    long=$(awk "$FUNCLEN_AWK" "${files[@]}" |
      awk -v max="$MAX_LINES" '$2 > max { printf "%s: %s lines (%s)\n", $1, $2, $3 }' |
      sort -t: -k1,1 -k2,2n)
  fi
  report "(b) no function in $dir/ over $MAX_LINES lines" "$long"
done

# ---- (c) one owner per file layout ---------------------------------------

# owner_check OWNER NAME...: each NAME (an HDF5 path, with or without its
# leading '/') must appear as a string literal in OWNER and in no other .c
# file of src/ or mpi/.
owner_check() {
  local owner=$1
  shift
  local name files out=""
  for name in "$@"; do
    files=$(grep -lE "\"/?$name\"" src/*.c mpi/*.c | tr '\n' ' ')
    files=${files% }
    [ "$files" = "$owner" ] || out+="\"$name\" in: ${files:-no file} (want $owner only)"$'\n'
  done
  printf '%s' "${out%$'\n'}"
}

IVF_NAMES=(centroids list_start order)
MODEL_NAMES=(memory_bank memory_weights coreset/indices coreset/clean_order coreset/tail_order)
SCORES_NAMES=(image_scores anomaly_maps)
TAIL_NAMES=(tail/class_size tail/is_tail tail/k_max tail/th tail/count tail/eta
  tail/elbow_distance tail/k_elbow tail/k_cap)
report "(c) model.h5 dataset names only in src/model_io.c" \
  "$(owner_check src/model_io.c "${MODEL_NAMES[@]}")"
report "(c) scores.h5 dataset names only in src/scores_io.c" \
  "$(owner_check src/scores_io.c "${SCORES_NAMES[@]}")"
report "(c) tail/ group names only in src/tail_io.c (tail.h5 and model.h5)" \
  "$(owner_check src/tail_io.c "${TAIL_NAMES[@]}")"
report "(c) index.h5 dataset names only in src/ivf_io.c" \
  "$(owner_check src/ivf_io.c "${IVF_NAMES[@]}")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
