/* eq_clock.h - wall time for the engine's timers (internal). */
#ifndef EQ_CLOCK_H
#define EQ_CLOCK_H

#include <time.h>

/* Seconds on the monotonic clock: only differences mean anything. */
static inline double eq_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
