/*
 * rand.c — see rand.h.
 */
#include "core/rand.h"

#include <sys/random.h>
#include <time.h>

static _Thread_local uint64_t state;

uint32_t wf_rand32(void)
{
    if (state == 0) {
        if (getrandom(&state, sizeof(state), 0) != sizeof(state) || state == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            state = ((uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec) | 1;
        }
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return (uint32_t)((state * 0x2545F4914F6CDD1DULL) >> 32);
}
