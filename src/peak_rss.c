/* peak_rss.c - VmHWM from /proc (see peak_rss.h). */
#include "peak_rss.h"

#include <stdio.h>

int64_t tc_peak_rss_bytes(void) {
  FILE *fp = fopen("/proc/self/status", "r");
  if (!fp) return 0;
  char line[256];
  long long kb = 0;
  while (fgets(line, sizeof line, fp))
    if (sscanf(line, "VmHWM: %lld kB", &kb) == 1) break;
  fclose(fp);
  return (int64_t)kb * 1024;
}
