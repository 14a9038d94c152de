/* SPDX-License-Identifier: GPL-2.0-only */
/* xorshift64*: the C tests' and generator's random numbers, small and seedable. */
#ifndef MEM_TABLE_RNG_H
#define MEM_TABLE_RNG_H

#include <stdint.h>

static inline uint64_t xorshift64s(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545F4914F6CDD1DULL;
}

#endif
