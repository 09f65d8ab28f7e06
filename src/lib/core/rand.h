/*
 * rand.h — cheap, non-cryptographic random numbers for load balancing and
 * jitter (never for keys, tokens or anything an attacker should not
 * predict: those use OpenSSL's RAND_bytes). xorshift64*, one state per
 * thread, seeded from getrandom(2) on first use.
 */
#ifndef WF_CORE_RAND_H
#define WF_CORE_RAND_H

#include <stdint.h>

uint32_t wf_rand32(void);

#endif
