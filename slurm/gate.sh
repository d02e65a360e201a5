# slurm/gate.sh - the quality gate of slurm/nightly (issue 16). Sourced by
# nightly; `slurm/nightly --gate-check CUR NEW` runs it on two metrics files.
#
# The metrics files are what `tailedcore eval --metrics FILE` writes, one
# key=value a line (several on a line also read):
#   image_auroc  mean image AUROC over the classes, percent (nan: no defect images)
#   pixel_auroc  mean pixel AUROC, percent (nan: no masks)
#   images, good_images   test images, of which good
#   threshold    the model's global threshold (nan: not calibrated)
#   target_frr   the FRR it was calibrated for (nan: not calibrated)
#   frr          fraction of the good images decided NG (nan: not calibrated)
#
# A night's model NEW is published only when every check that is on holds;
# CUR is the published model evaluated on the same set in the same job:
#   TC_GATE_MIN_AUROC     image AUROC >= this floor, percent                  [50]
#   TC_GATE_MAX_DROP      image AUROC at most this many points below CUR      [2]
#   TC_GATE_MAX_FRR       FRR <= this ceiling, fraction                       [off]
#   TC_GATE_MAX_FRR_RISE  FRR at most this much above CUR's FRR, fraction     [0.05]
# `off` turns a check off. A check whose values are nan is not made (an
# uncalibrated model has no FRR; a set without defects has no AUROC).

GATE_SETTINGS="TC_GATE_MIN_AUROC TC_GATE_MAX_DROP TC_GATE_MAX_FRR TC_GATE_MAX_FRR_RISE"

# gate_defaults: the defaults above for the settings that are unset
gate_defaults() {
  TC_GATE_MIN_AUROC=${TC_GATE_MIN_AUROC:-50}
  TC_GATE_MAX_DROP=${TC_GATE_MAX_DROP:-2}
  TC_GATE_MAX_FRR=${TC_GATE_MAX_FRR:-off}
  TC_GATE_MAX_FRR_RISE=${TC_GATE_MAX_FRR_RISE:-0.05}
}

gate_is_number() { [[ $1 =~ ^[0-9]+([.][0-9]*)?$|^[.][0-9]+$ ]]; }

# gate_check_settings: one line on stderr and status 2 for a value that is neither a number nor off
gate_check_settings() {
  local s v
  for s in $GATE_SETTINGS; do
    v=${!s}
    [ "$v" = off ] || gate_is_number "$v" \
      || { echo "nightly: $s='$v': give a non-negative number or off" >&2; return 2; }
  done
}

# gate_metric FILE KEY: the value of KEY in a metrics file, or nothing
gate_metric() {
  tr -s ' \t' '\n\n' <"$1" | sed -n "s/^$2=//p" | tail -1
}

# gate_value FILE KEY: a number or nan; status 1 (and nothing) when the key
# is missing or holds something else
gate_value() {
  local v
  v=$(gate_metric "$1" "$2")
  case "$v" in nan|NaN|-nan) echo nan; return 0 ;; esac
  [[ $v =~ ^-?[0-9]+([.][0-9]*)?([eE][-+]?[0-9]+)?$ ]] || return 1
  echo "$v"
}

# gate_fields PREFIX FILE: "PREFIXimage_auroc=.. PREFIXpixel_auroc=.. PREFIXthreshold=.. PREFIXfrr=.."
# for the log line (? for a missing file or key)
gate_fields() {
  local prefix=$1 file=$2 k v out=""
  for k in image_auroc pixel_auroc threshold frr; do
    v="?"
    [ -f "$file" ] && v=$(gate_metric "$file" "$k") && [ -n "$v" ] || v="?"
    out+=" $prefix$k=$v"
  done
  echo "${out# }"
}

# gate_decide CUR NEW: prints the reasons NEW is refused, joined by "; "
# (nothing: publish). CUR is "" when there is no published model, a missing
# file when the published model could not be evaluated. Status 2: bad
# settings; 4: NEW unreadable.
gate_decide() {
  local cur=$1 new=$2 auc frr good cur_auc="" cur_frr="" k
  gate_check_settings || return 2
  [ -r "$new" ] || { echo "nightly: $new: no metrics of the night's model (eval --metrics)" >&2; return 4; }
  for k in image_auroc frr good_images; do
    gate_value "$new" "$k" >/dev/null || { echo "$new has no numeric $k (written by an older tailedcore eval?)"; return 0; }
  done
  auc=$(gate_value "$new" image_auroc); frr=$(gate_value "$new" frr); good=$(gate_value "$new" good_images)
  if [ -n "$cur" ]; then
    local comparing=0
    [ "$TC_GATE_MAX_DROP" = off ] && [ "$TC_GATE_MAX_FRR_RISE" = off ] || comparing=1
    if [ -r "$cur" ] && gate_value "$cur" image_auroc >/dev/null && gate_value "$cur" frr >/dev/null; then
      cur_auc=$(gate_value "$cur" image_auroc); cur_frr=$(gate_value "$cur" frr)
    elif [ $comparing = 1 ]; then
      echo "the current model could not be evaluated on the validation set (see the predict job's log); to publish without comparing, set TC_GATE_MAX_DROP and TC_GATE_MAX_FRR_RISE to off for one night"
      return 0
    fi
  fi
  # mawk reads "nan" as 0: nan values arrive as empty strings and their checks are skipped
  nn() { [ "$1" = nan ] || echo "$1"; }
  awk -v auc="$(nn "$auc")" -v frr="$(nn "$frr")" -v good="$(nn "$good")" \
      -v cauc="$(nn "$cur_auc")" -v cfrr="$(nn "$cur_frr")" \
      -v floor="$TC_GATE_MIN_AUROC" -v drop="$TC_GATE_MAX_DROP" \
      -v ceil="$TC_GATE_MAX_FRR" -v rise="$TC_GATE_MAX_FRR_RISE" '
    function add(s) { out = out (out == "" ? "" : "; ") s }
    function ng(f) { return good == "" ? "" : sprintf(" (%d of %d good images)", f * good + 0.5, good) }
    BEGIN {
      if (floor != "off" && auc != "" && auc + 0 < floor + 0)
        add(sprintf("image AUROC %.1f is below the floor %.1f (TC_GATE_MIN_AUROC)", auc, floor))
      if (ceil != "off" && frr != "" && frr + 0 > ceil + 0)
        add(sprintf("FRR %.3f%s is above the ceiling %.3f (TC_GATE_MAX_FRR)", frr, ng(frr), ceil))
      if (drop != "off" && auc != "" && cauc != "" && cauc - auc > drop + 0)
        add(sprintf("image AUROC %.1f fell %.1f points below the current %.1f (max drop %.1f)", auc, cauc - auc, cauc, drop))
      if (rise != "off" && frr != "" && cfrr != "" && frr - cfrr > rise + 0)
        add(sprintf("FRR %.3f%s rose %.3f above the current %.3f (max rise %.3f)", frr, ng(frr), frr - cfrr, cfrr, rise))
      print out
    }' | grep . || true
}
