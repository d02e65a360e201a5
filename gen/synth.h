/* synth.h - the synthetic product renderer behind inputs/tc-synth (DESIGN 4:
 * "a synthetic generator makes a multi-class product data set with masks").
 *
 * Sixteen product classes, eight objects on a plain background (bottle,
 * cable, capsule, gear, nut, pill, screw, washer) and eight textures that
 * fill the frame (carpet, grid, leather, pcb, tile, weave, wood, zipper).
 * Classes differ in colour and structure so a CNN's global embedding
 * separates them; within a class, samples differ only by a small pose
 * change (objects: +-6 degrees, +-5 px, +-3% scale; textures: +-2 degrees
 * and a shift of the pattern), lighting (gain +-7%, a gradient) and sensor
 * noise (sigma about 3 levels).
 *
 * Five defect types, each with a pixel-accurate mask: the defect changes
 * pixels only inside its mask (the same sample rendered without the defect
 * is identical outside it), and most mask pixels change visibly.
 *   scratch        thin curved line, darker on bright parts, brighter on dark
 *   hole           small dark ellipse
 *   stain          irregular translucent blob (brown, or pale on dark parts)
 *   missing        a chunk of the object gone at its rim (objects), or the
 *                  pattern gone in a patch showing the substrate (textures)
 *   contamination  a cluster of small foreign particles and fibres
 * On objects every defect lies on the object.
 *
 * Rendering is a pure function of (class, size, sample seed, defect): no
 * global state, so output is byte-identical for the same arguments. Local. */
#ifndef TC_SYNTH_H
#define TC_SYNTH_H

#include <stdint.h>

#include "err.h"

typedef enum {
  TC_DEFECT_NONE = 0,
  TC_DEFECT_SCRATCH,
  TC_DEFECT_HOLE,
  TC_DEFECT_STAIN,
  TC_DEFECT_MISSING,
  TC_DEFECT_CONTAMINATION,
  TC_DEFECT_COUNT
} TcDefect;

/* Number of product classes (16). */
int tc_synth_n_classes(void);
/* Name of class c in [0, n): "bottle", ... (sorted by name). NULL when out of range. */
const char *tc_synth_class_name(int c);
/* Index of a class name, or -1. */
int tc_synth_class_index(const char *name);
/* 1 when class c is a texture filling the frame, 0 for an object. */
int tc_synth_class_is_texture(int c);
/* "good" for TC_DEFECT_NONE, else the defect folder name ("scratch", ...). */
const char *tc_synth_defect_name(TcDefect d);
/* Defect by name (TC_DEFECT_NONE for "good"); -1 when unknown. */
int tc_synth_defect_index(const char *name);

/* The defect kinds named in the NULL-terminated list `names` (every kind
 * when it is empty), in order, into defs [TC_DEFECT_COUNT]; *n their count.
 * Errors: TC_ERR_USAGE for an unknown or repeated name. */
TcErr tc_synth_parse_defects(const char *const *names, TcDefect *defs, int *n);

/* Render one sample. Local.
 *   cls    (input) class index.
 *   size   (input) width = height in pixels, 32..4096.
 *   seed   (input) sample seed: pose, lighting, noise and the defect's
 *          shape and place all derive from it.
 *   defect (input) TC_DEFECT_NONE for a normal sample.
 *   rgb    [size x size x 3] (output) 8-bit RGB, row-major.
 *   mask   [size x size] (output, may be NULL) 255 inside the defect, else 0
 *          (all 0 for TC_DEFECT_NONE).
 * Errors: TC_ERR_USAGE (bad class/size/defect), TC_ERR_MEM, TC_ERR_INTERNAL
 * (no place for the defect found, which the tests show does not happen). */
TcErr tc_synth_render(int cls, int size, uint64_t seed, TcDefect defect, uint8_t *rgb,
                      uint8_t *mask);

/* Paint one defect on a caller's image that fills the frame (a crop of a
 * photograph), with the shapes and colours tc_synth_render uses for its
 * texture classes. Local.
 *   size      (input) width = height, 32..4096.
 *   seed      (input) sample seed: the defect's shape and place derive from
 *             it (and from defect).
 *   defect    (input) any type but TC_DEFECT_NONE.
 *   col       [size x size x 3] (input/output) float RGB in 0..255; changed
 *             only inside the mask.
 *   substrate [size x size x 3] (input) what a "missing" patch shows.
 *   mask      [size x size] (output, may be NULL) 255 inside the defect.
 * Errors: TC_ERR_USAGE, TC_ERR_MEM, TC_ERR_INTERNAL (no place found). */
TcErr tc_synth_defect_paint(int size, uint64_t seed, TcDefect defect, float *col,
                            const float *substrate, uint8_t *mask);

/* The seed of one image of a generated data set: a hash of the data set seed,
 * class, split ("train"/"test"), defect and index, so every image has its own
 * pose and noise and adding classes never changes another class's images. */
uint64_t tc_synth_sample_seed(uint64_t dataset_seed, int cls, const char *split, TcDefect defect,
                              int64_t index);

#endif
