#!/usr/bin/env python3
"""realbench_labels.py VARIANT [OUT] - the true labels of a long-tail variant's
training images in the format of `tailedcore tailsample --labels`:
`path class is_noise is_tail_class` per line, paths relative to the variant
root (as extract records them). The class of an injected defect is the class
it was injected into; tail flags come from the variant's dataset.json and
the noise list from manifest_noise.txt (written by tc-longtail)."""
import json
import os
import sys


def main():
    if len(sys.argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    root = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) == 3 else os.path.join(root, "labels.txt")
    try:
        with open(os.path.join(root, "dataset.json")) as f:
            info = json.load(f)
        with open(os.path.join(root, "manifest_good.txt")) as f:
            good = [l.strip() for l in f if l.strip()]
        with open(os.path.join(root, "manifest_noise.txt")) as f:
            noise = [l.strip() for l in f if l.strip()]
    except (OSError, ValueError) as e:
        sys.stderr.write("realbench_labels: %s\n" % e)
        return 3
    tail = {c["name"]: bool(c["tail"]) for c in info["classes"]}
    lines = ["# path class is_noise is_tail_class  (bench/realbench_labels.py, %s)\n" % info.get("protocol")]
    for flag, paths in ((0, good), (1, noise)):
        for p in paths:
            c = p.split("/", 1)[0]
            if c not in tail:
                sys.stderr.write("realbench_labels: %s: class %s not in dataset.json\n" % (p, c))
                return 3
            lines.append("%s %s %d %d\n" % (p, c, flag, int(tail[c])))
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.writelines(lines)
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
