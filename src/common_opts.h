/* common_opts.h - the options several commands take, defined once: name,
 * type, default, help and the rule for a valid value, so extract, fit,
 * predict and tailsample cannot drift apart (they once validated
 * --mem-per-rank three ways and --tail-p over two ranges). Local. */
#ifndef TC_COMMON_OPTS_H
#define TC_COMMON_OPTS_H

#include <stdint.h>

#include "err.h"
#include "opts.h"

#define TC_MEM_PER_RANK_DEFAULT "2G"
#define TC_WEIGHTS_DEFAULT "weights/mobilenetv2.h5"

/* --mem-per-rank: bytes a rank may use, 0..1P (TC_OPT_SIZE refuses the
 * rest). 0 is legal everywhere and means "as little as the command can do
 * with": extract decodes twice, tailsample streams, and fit and predict
 * refuse with the size they would need. `use` says what the command spends
 * it on. */
TcOpt tc_opt_mem_per_rank(int64_t *bytes, const char *use);

/* --weights: the backbone weights file; def is TC_WEIGHTS_DEFAULT where
 * images are read by default, NULL where weights are optional. */
TcOpt tc_opt_weights(const char **path, const char *def, const char *use);

/* --tail-p, --tail-cut, --embed-norm: the TailSampler rules fit and
 * tailsample share. */
TcOpt tc_opt_tail_p(const char **text);
TcOpt tc_opt_tail_cut(const char **text);
TcOpt tc_opt_embed_norm(const char **text);

/* "auto" or a number in [0, 1]; TC_ERR_USAGE naming cmd otherwise. */
TcErr tc_tail_p_check(const char *cmd, const char *text);

/* The value of a checked --tail-p: p_auto for "auto". */
double tc_tail_p_value(const char *text, double p_auto);

#endif
