/* peak_rss.h - this process's peak resident memory, for the timing lines
 * commands log (Linux: VmHWM in /proc/self/status). Serial and local. */
#ifndef TC_PEAK_RSS_H
#define TC_PEAK_RSS_H

#include <stdint.h>

/* Peak resident memory of this process in bytes; 0 where the system does
 * not report it. */
int64_t tc_peak_rss_bytes(void);

#endif
