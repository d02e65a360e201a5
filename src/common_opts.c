/* common_opts.c - see common_opts.h. */
#include "common_opts.h"

#include <stdlib.h>
#include <string.h>

#include "tailsampler.h"

TcOpt tc_opt_mem_per_rank(int64_t *bytes, const char *use) {
  return (TcOpt){"mem-per-rank", TC_OPT_SIZE, bytes, TC_MEM_PER_RANK_DEFAULT, use, NULL, 0};
}

TcOpt tc_opt_weights(const char **path, const char *def, const char *use) {
  return (TcOpt){"weights", TC_OPT_STRING, path, def, use, NULL, 0};
}

TcOpt tc_opt_tail_p(const char **text) {
  return (TcOpt){"tail-p", TC_OPT_STRING, text, "auto",
                 "TailSampler trim_min quantile p of the per-row threshold (DESIGN 3.6 step 2), in [0, 1]; "
                 "auto: 1 for mobilenetv2 features, the paper's 0.85 otherwise",
                 NULL, 0};
}

TcOpt tc_opt_tail_cut(const char **text) {
  return (TcOpt){"tail-cut", TC_OPT_CHOICE, text, "auto",
                 "TailSampler K_max rule: cap = the paper's min(K_elbow, K_cap); elbow = K_elbow; gap = the size "
                 "after the largest ratio of consecutive class sizes when >= 3/2, else cap; auto: gap for "
                 "mobilenetv2 features, cap otherwise",
                 "auto|" TC_TAIL_CUT_CHOICES, 0};
}

TcOpt tc_opt_embed_norm(const char **text) {
  return (TcOpt){"embed-norm", TC_OPT_CHOICE, text, "none",
                 "TailSampler embeddings before the cosine: none (the paper) or center (subtract the mean "
                 "normalised embedding)",
                 TC_TAIL_NORM_CHOICES, 0};
}

TcErr tc_tail_p_check(const char *cmd, const char *text) {
  if (!text || !strcmp(text, "auto")) return TC_OK;
  char *end = NULL;
  double p = strtod(text, &end);
  TC_CHECK(end != text && !*end && p >= 0.0 && p <= 1.0, TC_ERR_USAGE,
           "%s: --tail-p '%s' is not auto or a number in [0, 1]", cmd, text);
  return TC_OK;
}

double tc_tail_p_value(const char *text, double p_auto) {
  return !text || !strcmp(text, "auto") ? p_auto : strtod(text, NULL);
}
