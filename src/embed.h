/* embed.h - the PatchCore patch embedding of DESIGN 3.2, from tap maps to
 * one D-dimensional feature per position of the first tap's grid.
 *
 * For each layer map [C x h x w]: the 3x3 neighbourhood of every position
 * (zero padding) as a C*9 vector ordered (c, ky, kx); bilinear interpolation
 * (align_corners=False, PyTorch's source-index rule) of each component to
 * the first layer's grid; adaptive average pooling 1-D of the C*9 vector to
 * D values (bin i = [floor(i*L/D), ceil((i+1)*L/D))). Then the layers' D
 * vectors are concatenated and pooled to D the same way.
 * Pooling and interpolation are both linear and act on different axes, so
 * this code pools first (on the layer's own grid) and interpolates the D
 * pooled values: the same result up to float rounding, far less work.
 *
 * Default D: 1024 for wrn50/resnet18 (the paper); 576 for mobilenetv2: the
 * final pooling averages value pairs, so output i < D/2 comes from layer 1
 * only (288 = 32*9 values there) and i >= D/2 from layer 2 (864 = 96*9).
 * D = 576 is the largest D whose outputs are all distinct linear functions
 * of the raw values (rank of the whole linear map = D; measured by
 * analysis/embed_rank.py); D = 1024 keeps only 800 independent values. */
#ifndef TC_EMBED_H
#define TC_EMBED_H

#include <stddef.h>

#include "err.h"

/* Adaptive average pooling 1-D of x [L] to y [n] (PyTorch's bin rule).
 * Local. */
void tc_embed_adaptive_pool(const float *x, int L, float *y, int n);

/* Bilinear resampling, align_corners=False (PyTorch F.interpolate), of
 * x [h x w x D] (position-major, D values per position) to y [oh x ow x D].
 * Local. */
void tc_embed_resize(const float *x, int h, int w, int D, float *y, int oh, int ow);

/* The patch features of one image. Local.
 *   nlayers (1..4) maps: maps[l] [c[l] x h[l] x w[l]] (input, CHW);
 *   D: output dimension;
 *   out [h[0]*w[0] x D] (output, caller-allocated), positions row-major.
 * Scratch is allocated and freed inside. Errors: TC_ERR_USAGE, TC_ERR_MEM.
 * DESIGN 3.2 steps 1-4. */
TcErr tc_embed_patches(int nlayers, const float *const *maps, const int *c, const int *h,
                       const int *w, int D, float *out);

#endif
