/* method.c - the method table of method.h. */
#include "method.h"

#include <string.h>

static const TcMethod methods_[] = {
    {.name = "tailedcore", .noise_filter = 1, .tail_sampling = 1, .tail_views = 1},
    {.name = "softpatch", .noise_filter = 1, .memory_weights = 1, .weights_scores = 1},
    {.name = "patchcore"},
};

const TcMethod *tc_method_find(const char *name) {
  for (size_t i = 0; name && i < sizeof methods_ / sizeof methods_[0]; i++)
    if (strcmp(methods_[i].name, name) == 0) return &methods_[i];
  return NULL;
}
