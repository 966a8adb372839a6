/* hash: the suite's 64-bit hashes of bytes.
 *  - cm_hash64: fast and the same in every process, for what must agree across processes and
 *    runs (HyperLogLog registers in checkpoints, replays). Anyone can compute it, so inputs can
 *    be chosen to collide: never key an in-memory table of outside input with it.
 *  - cm_hash64_table: SipHash-2-4 under a key drawn at random once per process, for in-memory
 *    hash tables keyed by outside input (event keys): inputs cannot be chosen offline to fall into
 *    one bucket (hash flooding). Differs between processes: never persist it.
 *  - cm_siphash24: SipHash-2-4 (Aumasson and Bernstein) under a given 16-byte key.
 *  - cm_mix64: a bijective mixer of 64 bits (xor-shifts and odd multiplies), to combine hashes. */
#ifndef CM_HASH_H
#define CM_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t cm_hash64(const void *data, size_t len);
uint64_t cm_hash64_table(const void *data, size_t len);
uint64_t cm_siphash24(const unsigned char key[16], const void *data, size_t len);
uint64_t cm_mix64(uint64_t x);

#endif
