#!/usr/bin/python3
"""How many distinct values the DESIGN 3.2 patch embedding keeps, per D.

The per-layer pooling (C*9 -> D) and the final pooling (L*D -> D) are one
linear map A [D x sum(C_l*9)] of the unfolded values; rank(A) is the number
of independent values in a feature, and D - rank(A) are repeats. For
mobilenetv2 (32*9 = 288 and 96*9 = 864 values):
    /usr/bin/python3 analysis/embed_rank.py 288 864
"""
import sys

import numpy as np


def pool_matrix(L, n):
    A = np.zeros((n, L))
    for i in range(n):
        s, e = (i * L) // n, -((-(i + 1) * L) // n)
        A[i, s:e] = 1.0 / (e - s)
    return A


def embed_matrix(lengths, D):
    blocks = [pool_matrix(L, D) for L in lengths]
    per = np.zeros((len(lengths) * D, sum(lengths)))
    o = 0
    for k, (L, B) in enumerate(zip(lengths, blocks)):
        per[k * D:(k + 1) * D, o:o + L] = B
        o += L
    return pool_matrix(len(lengths) * D, D) @ per


lengths = [int(v) for v in sys.argv[1:]] or [288, 864]
print("layer lengths", lengths)
for D in (256, 384, 512, 576, 640, 768, 864, 1024, 1152):
    A = embed_matrix(lengths, D)
    r = np.linalg.matrix_rank(A)
    distinct = len({tuple(np.round(row, 12)) for row in A})
    print("D=%5d  rank %5d  distinct rows %5d  repeated %5d" % (D, r, distinct, D - r))
