/* bits: a double's IEEE 754 bit pattern and back, for what keeps doubles as 64-bit integers
 * (atomic gauges, serialized sketches). Pure, thread-safe. */
#ifndef CM_BITS_H
#define CM_BITS_H

#include <stdint.h>
#include <string.h>

static inline uint64_t cm_double_bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return u;
}

static inline double cm_bits_double(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

#endif
