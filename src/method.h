/* method.h - the memory bank methods (DESIGN 3.3-3.7) as one table: which
 * fit stages each runs and how predict scores with its bank. fit and
 * predict look a method up by the name --method takes and model.h5's
 * `method` attribute records; nothing else branches on a method's name.
 *
 *   method      noise filter  tail sampling  tail views  memory weights  weighted scores
 *   patchcore   -             -              -           -               -
 *   softpatch   LOF           -              -           LOF score       yes
 *   tailedcore  LOF           TailSampler    --tail-aug  -               -
 *
 * Local, no state. */
#ifndef TC_METHOD_H
#define TC_METHOD_H

/* The names the table holds, as an option's list of choices. */
#define TC_METHOD_CHOICES "tailedcore|softpatch|patchcore"

typedef struct {
  const char *name;   /* --method value and model.h5's `method` attribute */
  int noise_filter;   /* LOF per position drops the noisiest patches before the M_clean coreset (3.4) */
  int tail_sampling;  /* TailSampler's tail images give a second coreset, M_tail (3.6) */
  int tail_views;     /* M_tail also covers the tail images' --tail-aug views, when fit has --data and
                         --weights to extract them (3.6 step 8) */
  int memory_weights; /* each bank row's /memory_weights is its patch's LOF score (else 1): needs
                         noise_filter */
  int weights_scores; /* predict multiplies a patch's nearest distance by that row's memory weight */
} TcMethod;

/* The method named `name`, or NULL when there is none of that name (a
 * model.h5 of an unknown method scores as unweighted distances). */
const TcMethod *tc_method_find(const char *name);

#endif
