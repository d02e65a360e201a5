#!/usr/bin/env bash
# analysis/plot_results.py on the outputs of a real run (tc-synth long-tail,
# extract, tailsample, fit, predict, eval --csv on small images) and on a copy
# of its scores.h5 given a calibrated model's datasets by hand (issue 16:
# attribute threshold, /normalised_scores, /decisions, /thresholds). Checks
# what a reader sees (issue 16 item 5): AUROC axes on 0-100 with chance
# marked, the elbow plot's K_elbow / K_cap / K_max lines all visible with
# their values and integer ticks, the overlays with one colour scale, a
# colour bar, score / threshold and OK/NG when calibrated, "uncalibrated"
# otherwise. Needs /usr/bin/python3 with matplotlib and PIL (deps.sh demo):
# without them a SKIP line and no checks.
source "$(dirname "$0")/lib.sh"
T=$BUILD/tests/test_cnn
SYNTH=$BUILD/tc-synth
PY=/usr/bin/python3
PLOT=$ROOT/analysis/plot_results.py
if ! "$PY" -c "import matplotlib, PIL, h5py" 2>/dev/null; then
  echo "SKIP plot_results: $PY lacks matplotlib or PIL (./deps.sh demo installs them)"
  report; exit
fi
for b in "$T" "$SYNTH"; do
  if [ ! -x "$b" ]; then fail "missing $b (make BUILD=... all $BUILD/tests/test_cnn)"; report; exit 1; fi
done
cd "$TMP"
W=$TMP/mbv2.h5
(cd "$ROOT" && "$T" --write-weights mobilenetv2 mobilenetv2 "$W") >/dev/null 2>&1 || fail "write weights"
check "make a 5-class long-tail data set" "$SYNTH" --out synth --classes 5 --train 10 --test-good 2 \
  --test-defect 1 --defects scratch hole --size 96 --longtail step_k4 --longtail-out data --quiet
for split in train test; do
  tc_run 2 extract --data data --split $split --weights "$W" --resize 80 --crop 64 --quiet --out $split.h5
done
tc_run 2 tailsample --features train.h5 --out tail.h5 --quiet
tc_run 2 fit --features train.h5 --method patchcore --out model.h5 --quiet
tc_run 2 predict --model model.h5 --features test.h5 --out scores.h5 --quiet
tc_run 2 eval --scores scores.h5 --data data --dataset-info data/dataset.json --csv results.csv >/dev/null
check "the run wrote tail.h5, scores.h5 and results.csv" test -s tail.h5 -a -s scores.h5 -a -s results.csv

"$PY" "$PLOT" --out-dir plots --csv results.csv --scores scores.h5 --data data --tail tail.h5 >log.p 2>&1
check "plot_results on the run: exit 0" test $? = 0
for png in results tail_vs_noise overlays elbow; do
  check "  $png.png decodes, at least 400 x 300" "$PY" -c "
import sys; from PIL import Image
im = Image.open('plots/$png.png'); im.load(); sys.exit(not (im.size[0] >= 400 and im.size[1] >= 300))"
done

# the figures themselves, built by the script's functions (checks.py NAME ARGS)
cat >checks.py <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import h5py, numpy as np
import plot_results as pr

def lines_at(ax, y):
    return [l for l in ax.get_lines() if len(l.get_ydata()) and np.all(np.asarray(l.get_ydata()) == y)]

def auroc_axes(csv):
    methods, means = pr.read_csv(csv)
    fig = pr.figure_results(methods, means)
    bars = [a for a in fig.axes if a.patches]
    assert len(bars) == 2, len(bars)
    for ax in bars:
        assert ax.get_ylim() == (0, 105), ax.get_ylim()
        assert lines_at(ax, 50), "no chance line at 50"
    scatter = pr.figure_tail_vs_noise(methods, means).axes[0]
    assert scatter.get_xlim() == (0, 105) and scatter.get_ylim() == (0, 105), (scatter.get_xlim(), scatter.get_ylim())
    assert lines_at(scatter, 50), "no chance line at 50"
    assert "chance (50)" in [t.get_text() for t in fig.legends[0].get_texts()], "chance not in the legend"

def integer_ticks(axis):
    lo, hi = axis.get_view_interval()
    ticks = [t for t in axis.get_ticklocs() if lo <= t <= hi]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks

def elbow(path, want=""):
    """K_elbow, K_cap and K_max each a line labelled with its value, lines of
    equal value apart on the screen; want ('K_elbow=52,K_cap=18'): values."""
    fig = pr.figure_elbow(path)
    ax = fig.axes[0]
    fig.canvas.draw()
    seen = {}
    for l in ax.get_lines():
        name = l.get_label().split(" ")[0]
        if name.startswith("K_"):
            v = float(l.get_ydata()[0])
            assert l.get_label().endswith("= %d" % v), l.get_label()
            seen[name] = (v, l.get_transform().transform((0, v))[1])
    assert sorted(seen) == ["K_cap", "K_elbow", "K_max"], seen
    for item in filter(None, want.split(",")):
        name, v = item.split("=")
        assert name in seen and seen[name][0] == float(v), (name, seen)
    for a in seen:
        for b in seen:
            if a < b and seen[a][0] == seen[b][0]:
                assert abs(seen[a][1] - seen[b][1]) >= 2, ("%s and %s drawn on top of each other" % (a, b), seen)
    integer_ticks(ax.xaxis)
    integer_ticks(ax.yaxis)

def overlays(scores, data, mode):
    fig = pr.figure_overlays(scores, data, 4)
    heats = [im for ax in fig.axes for im in ax.get_images() if im.get_cmap().name == "jet"]
    assert len(heats) >= 2, len(heats)
    clims = {im.get_clim() for im in heats}
    assert len(clims) == 1, "more than one colour scale: %s" % clims
    assert any(im.colorbar is not None for im in heats), "no colour bar"
    title = fig._suptitle.get_text()
    captions = [ax.get_title() for ax in fig.axes if ax.get_images() and ax.get_images()[-1] in heats]
    with h5py.File(scores, "r") as f:
        paths = [p.decode() for p in f["paths"][:]]
        raw = f["image_scores"][:]
        norm = f["normalised_scores"][:] if "normalised_scores" in f else None
        dec = f["decisions"][:] if "decisions" in f else None
    pick = pr.pick_overlay_images(paths, 4)  # the figure's column order
    assert len(captions) == len(pick), (captions, pick)
    if mode == "uncalibrated":
        assert "uncalibrated" in title, title
        for c, i in zip(captions, pick):
            assert c.startswith("score %.3g\n" % raw[i]), (c, raw[i])
        return
    assert "uncalibrated" not in title and "calibrated" in title, title
    assert clims == {(0.0, 2.0)}, clims
    bar = next(im.colorbar for im in heats if im.colorbar is not None)
    assert "1 threshold" in [t.get_text() for t in bar.ax.get_yticklabels()], "threshold not on the bar"
    assert lines_at(bar.ax, 1.0), "no mark at 1 on the bar"
    for c, i in zip(captions, pick):
        want = "%s  %.2f x threshold" % ("NG" if dec[i] else "OK", norm[i])
        assert c.split("\n")[0] == want, (c, want)

globals()[sys.argv[2]](*sys.argv[3:])
PY
pycheck() { "$PY" checks.py "$ROOT/analysis" "$@"; }
check "results: both AUROC axes 0-105 with a chance line at 50; tail_vs_noise 0-105 both ways" \
  pycheck auroc_axes results.csv
KE=$("$PY" -c "import h5py; f = h5py.File('tail.h5', 'r'); print(','.join('%s=%d' % (n, f['tail/' + k][0]) for n, k in (('K_elbow', 'k_elbow'), ('K_cap', 'k_cap'), ('K_max', 'k_max'))))")
check "elbow of the run's tail.h5 ($KE): three labelled lines, equal ones apart, integer ticks" \
  pycheck elbow tail.h5 "$KE"
# the golden pareto embeddings under the paper's cap rule: K_cap = K_max = 18, K_elbow = 52
tc_run 2 tailsample --features "$ROOT/tests/golden/tailsampler_pareto.h5" --tail-cut cap --out pareto.h5 --quiet
check "elbow with K_cap = K_max: both lines visible, with their values" \
  pycheck elbow pareto.h5 K_elbow=52,K_cap=18,K_max=18
tc_run 2 fit --features train.h5 --method tailedcore --tail-aug none --out tmodel.h5 --quiet 2>/dev/null
KM=$("$PY" -c "import h5py; print('K_max=%d' % h5py.File('tmodel.h5', 'r')['tail/k_max'][0])")
check "elbow from a tailedcore model.h5 (eta recomputed; $KM): three labelled lines, integer ticks" \
  pycheck elbow tmodel.h5 "$KM"
"$PY" "$PLOT" --out-dir plots_pc --tail model.h5 >log.e 2>&1; rc=$?
check "elbow from a patchcore model.h5 (no TailSampler, /tail/k_max = -1): exit 1, a note, no elbow.png" \
  bash -c "test $rc = 1 && grep -q 'a patchcore model has no TailSampler result' log.e && test ! -e plots_pc/elbow.png"
check "overlays of an uncalibrated model: one colour scale, a colour bar, raw scores, 'uncalibrated'" \
  pycheck overlays scores.h5 data uncalibrated

# a calibrated model's scores, made by hand: threshold = the median score, one
# class with its own threshold, decisions NG above 1
cp scores.h5 calibrated.h5
"$PY" - <<'PY'
import h5py, numpy as np
with h5py.File("calibrated.h5", "r+") as f:
    s = f["image_scores"][:]
    paths = [p.decode() for p in f["paths"][:]]
    glob = float(np.median(s))
    thr = np.array([1.2 * glob if p.startswith(paths[0].split("/")[0] + "/") else glob for p in paths], np.float32)
    f.attrs["threshold"] = np.float64(glob)
    f["thresholds"] = thr
    f["normalised_scores"] = (s / thr).astype(np.float32)
    f["decisions"] = (s / thr > 1).astype(np.uint8)
PY
check "overlays of a calibrated model: scale 0..2, threshold at 1 on the bar, 'NG/OK  x.xx x threshold'" \
  pycheck overlays calibrated.h5 data calibrated
"$PY" "$PLOT" --out-dir plots_cal --scores calibrated.h5 --data data >log.c 2>&1
check "plot_results on the calibrated scores: exit 0, overlays.png" test $? = 0 -a -s plots_cal/overlays.png
cp scores.h5 badshape.h5
"$PY" -c "import h5py, numpy as np; f = h5py.File('badshape.h5', 'r+'); f['normalised_scores'] = np.ones(3, np.float32)"
"$PY" "$PLOT" --out-dir plots_bad --scores badshape.h5 --data data >log.b 2>&1; rc=$?
check "/normalised_scores of the wrong length: exit 0, a note naming it" \
  bash -c "test $rc = 0 && grep -q 'badshape.h5: /normalised_scores has shape (3,) for' log.b"
check "  and the overlays drawn uncalibrated" pycheck overlays badshape.h5 data uncalibrated
report
