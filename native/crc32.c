// CRC-32 (IEEE 802.3, zlib's crc32()) by carry-less multiplication: the spool checksums
// every record on append and again on read, and zlib's table-driven crc32 (~4 GB/s here)
// was ~3 % of the forwarder's CPU while draining. Folding four 16-byte lanes with
// PCLMULQDQ (Intel, "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ", 2009;
// the constants are those of Linux's arch/x86/crypto/crc32-pclmul_asm.S) runs several
// times faster and gives the same value, so spooled records keep their format.
//
// x86-64 only, and only where the CPU has PCLMULQDQ and SSE4.1 (checked at run time);
// crc32_available() says whether it does, and the JS side uses zlib's crc32 otherwise.

#include "crc32.h"

#include <stddef.h>
#include <stdint.h>

static uint32_t table[256];

static void make_table(void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
}

/* the raw (uninverted) register over bytes, one at a time: heads and tails */
static uint32_t bytewise(uint32_t crc, const uint8_t *p, size_t n) {
  while (n--) crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define FOLD_MIN 64

/* The raw register over n bytes, n >= 64 and a multiple of 16. */
__attribute__((target("pclmul,sse4.1"))) static uint32_t folded(uint32_t crc, const uint8_t *p, size_t n) {
  const __m128i r2r1 = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL);
  const __m128i r4r3 = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);
  const __m128i r5 = _mm_set_epi64x(0, 0x163cd6124LL);
  const __m128i poly = _mm_set_epi64x(0x1f7011641LL, 0x1db710641LL); /* mu, P' */
  const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);

  __m128i x1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)crc));
  __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 16));
  __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 32));
  __m128i x4 = _mm_loadu_si128((const __m128i *)(p + 48));
  p += 64;
  n -= 64;
  while (n >= 64) {
    __m128i t1 = _mm_clmulepi64_si128(x1, r2r1, 0x00), t2 = _mm_clmulepi64_si128(x2, r2r1, 0x00);
    __m128i t3 = _mm_clmulepi64_si128(x3, r2r1, 0x00), t4 = _mm_clmulepi64_si128(x4, r2r1, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, r2r1, 0x11), t1), _mm_loadu_si128((const __m128i *)p));
    x2 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x2, r2r1, 0x11), t2), _mm_loadu_si128((const __m128i *)(p + 16)));
    x3 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x3, r2r1, 0x11), t3), _mm_loadu_si128((const __m128i *)(p + 32)));
    x4 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x4, r2r1, 0x11), t4), _mm_loadu_si128((const __m128i *)(p + 48)));
    p += 64;
    n -= 64;
  }
  /* four lanes into one */
  __m128i t;
  t = _mm_clmulepi64_si128(x1, r4r3, 0x00);
  x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, r4r3, 0x11), t), x2);
  t = _mm_clmulepi64_si128(x1, r4r3, 0x00);
  x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, r4r3, 0x11), t), x3);
  t = _mm_clmulepi64_si128(x1, r4r3, 0x00);
  x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, r4r3, 0x11), t), x4);
  while (n >= 16) {
    t = _mm_clmulepi64_si128(x1, r4r3, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, r4r3, 0x11), t), _mm_loadu_si128((const __m128i *)p));
    p += 16;
    n -= 16;
  }
  /* 128 bits to 64, then to 32 (R5), then Barrett reduction */
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(x1, r4r3, 0x10), _mm_srli_si128(x1, 8));
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask32), r5, 0x00), _mm_srli_si128(x1, 4));
  __m128i x2b = x1;
  x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly, 0x10);
  x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly, 0x00);
  x1 = _mm_xor_si128(x1, x2b);
  return (uint32_t)_mm_extract_epi32(x1, 1);
}

#define CAN_FOLD 1
#else
#define CAN_FOLD 0
#endif

static int have_clmul = 0;
static int ready = 0;

/* The byte table, and whether this CPU folds. The module's init calls it first (through
   crc32_available), before any thread can. */
static void init(void) {
  if (ready) return;
  make_table();
#if CAN_FOLD
  __builtin_cpu_init();
  have_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
  ready = 1;
}

int crc32_available(void) {
  init();
  return have_clmul;
}

uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n) {
  init();
  uint32_t c = ~crc;
#if CAN_FOLD
  if (n >= FOLD_MIN && have_clmul) {
    /* the folded run takes whole 16-byte blocks (unaligned loads); the last n % 16 bytes follow */
    size_t body = n & ~(size_t)15;
    c = folded(c, p, body);
    p += body;
    n -= body;
  }
#endif
  return ~bytewise(c, p, n);
}
