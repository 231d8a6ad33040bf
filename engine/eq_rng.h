/* eq_rng.h - placeholder; the RNG module is being written. */
#ifndef EQ_RNG_H
#define EQ_RNG_H
#endif
