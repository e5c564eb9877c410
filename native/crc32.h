// CRC-32 as zlib's crc32() computes it, by carry-less multiplication where the CPU has it.
#ifndef FASTPATH_CRC32_H
#define FASTPATH_CRC32_H
#include <stddef.h>
#include <stdint.h>

/* 1 if crc32_update folds with PCLMULQDQ on this CPU; 0: callers should use zlib's */
int crc32_available(void);
/* zlib's crc32(crc, p, n) */
uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n);
#endif
