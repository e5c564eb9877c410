// Native fast path for the relay's commonest request: a snappy WriteRequest of plain
// series (canonical labels, ASCII, sorted, the cluster label already right) with plain
// samples. One call decompresses into a reused buffer and checks every rule the JS
// validator (shared/remote-write/validate.ts) checks for that shape, then answers
// "valid, these counts" — or "defer" for anything else, and the JS path decides (and
// words every rejection). It never rejects: so it can only make the common case cheaper,
// never change an answer. shared/remote-write/native.ts loads it; tests compare it with
// the JS validator on every fixture, random requests and the fuzz corpus.

#include <node_api.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32.h"

#define DEFER 0
#define VALID 1

/* What native.ts expects (exports.version): 2 added the sample time range to scan's output
   and partition(); 3 added seriesHashes() and partition()'s per-series assignment; 4 added
   translateV2(); 5 added decodeInto() and scanRaw() (requests the relabel rules went over);
   6 added scan()'s series hashes (the forwarder spools them with the record); 7 added crc32(),
   exported where the CPU can fold (native/crc32.c). */
#define FASTPATH_VERSION 7

/* Working buffers, reused between calls. Thread-local: worker threads that load the module
   each get their own (freed by an environment cleanup hook); a buffer grown past
   RETAIN_MAX for one large request is freed after it rather than kept. */
#define RETAIN_MAX ((size_t)8 << 20)
static _Thread_local uint8_t *scratch = NULL;
static _Thread_local size_t scratch_cap = 0;

/* Grows a thread-local buffer to hold at least `need` items of `size` bytes; 0 if out of memory. */
static int reserve(void **buf, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 1;
  size_t grown = need + (need >> 1) + 64;
  void *p = realloc(*buf, grown * size);
  if (p == NULL) return 0;
  *buf = p;
  *cap = grown;
  return 1;
}

/* Unaligned loads. load64le is the machine's order: the compressor's 16-byte search only
   runs on little-endian machines, and the scan's checks (OR, equality) care for no order. */
static inline uint32_t load32le(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t load64le(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* Snappy block varint header: the decoded length, or -1. */
static int64_t snappy_header(const uint8_t *p, size_t n, size_t *hdr) {
  uint64_t v = 0;
  for (size_t i = 0; i < 5 && i < n; i++) {
    v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    if (p[i] < 0x80) {
      *hdr = i + 1;
      return (int64_t)v;
    }
  }
  return -1;
}

/* Output slack past `want`: short copies move 16 bytes at a time (fixed-size memcpy
   compiles to two moves) and may write up to 15 bytes beyond the element. */
#define SLACK 32

/* A literal tag's length field of 60-63: the length (minus one) follows in 1-4 little-endian
   bytes at *i. Reads them into *len and advances *i; 0 if they run past n. */
static inline int long_literal_len(const uint8_t *in, size_t n, size_t *i, size_t *len) {
  size_t m = *len - 59, l = 0;
  if (*i + m > n) return 0;
  for (size_t j = 0; j < m; j++) l |= (size_t)in[*i + j] << (8 * j);
  *i += m;
  *len = l;
  return 1;
}

/* Decodes a snappy block's elements into out[0, want); 0 on any inconsistency. It parses
   tags inline: on this, the hottest loop, a shared element parser measured 10-15 % slower
   (the short-literal move wants the tag before the length). */
static int snappy_decode(const uint8_t *in, size_t n, uint8_t *out, size_t want) {
  size_t i = 0, o = 0;
  while (i < n) {
    uint8_t tag = in[i++];
    size_t len, off;
    switch (tag & 3) {
      case 0:
        len = tag >> 2;
        if (len < 16 && i + 16 <= n && o + 16 <= want + SLACK) {
          /* a short literal: one 16-byte move, the output position advances by its length */
          len += 1;
          if (o + len > want) return 0;
          memcpy(out + o, in + i, 16);
          i += len;
          o += len;
          continue;
        }
        if (len >= 60 && !long_literal_len(in, n, &i, &len)) return 0;
        len += 1;
        if (i + len > n || o + len > want) return 0;
        memcpy(out + o, in + i, len);
        i += len;
        o += len;
        continue;
      case 1:
        if (i + 1 > n) return 0;
        len = ((tag >> 2) & 7) + 4;
        off = ((size_t)(tag >> 5) << 8) | in[i];
        i += 1;
        break;
      case 2:
        if (i + 2 > n) return 0;
        len = (tag >> 2) + 1;
        off = (size_t)in[i] | ((size_t)in[i + 1] << 8);
        i += 2;
        break;
      default:
        if (i + 4 > n) return 0;
        len = (tag >> 2) + 1;
        off = (size_t)in[i] | ((size_t)in[i + 1] << 8) | ((size_t)in[i + 2] << 16) | ((size_t)in[i + 3] << 24);
        i += 4;
        break;
    }
    if (off == 0 || off > o || o + len > want) return 0;
    if (off >= 16 && o + len + 16 <= want + SLACK) {
      /* 16 bytes a step, source and destination at least 16 apart: each step reads only bytes
         already written; up to 15 bytes past the copy land in the slack, overwritten later. A
         variable-length memcpy call for the 17-64-byte copies cost 7-11 % of the scan
         (bench/README.md, entry 15) */
      for (size_t j = 0; j < len; j += 16) memcpy(out + o + j, out + o - off + j, 16);
    } else if (off >= len) {
      memcpy(out + o, out + o - off, len);
    } else {
      for (size_t j = 0; j < len; j++) out[o + j] = out[o + j - off];
    }
    o += len;
  }
  return o == want;
}

/* A varint of at most 5 bytes (lengths); 0 if truncated or longer. */
static inline int read_len(const uint8_t *b, size_t *pos, size_t end, size_t *value) {
  size_t p = *pos;
  if (p < end && b[p] < 0x80) {
    /* one byte: every label's, and most series' */
    *value = b[p];
    *pos = p + 1;
    return 1;
  }
  uint64_t v = 0;
  for (int i = 0; i < 5; i++) {
    if (p >= end) return 0;
    uint8_t c = b[p++];
    v |= (uint64_t)(c & 0x7f) << (7 * i);
    if (c < 0x80) {
      *pos = p;
      *value = (size_t)v;
      return 1;
    }
  }
  return 0;
}

static uint8_t name_class[256]; /* bit 1: [a-zA-Z0-9_], bit 2: also ':' ; first-char classes below */
static uint8_t first_class[256];
#define LABEL_NAME 1
#define METRIC_NAME 2

static void init_classes(void) {
  for (int b = 0; b < 256; b++) {
    int letter = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b == '_';
    int digit = b >= '0' && b <= '9';
    if (letter) first_class[b] = LABEL_NAME | METRIC_NAME;
    if (letter || digit) name_class[b] = LABEL_NAME | METRIC_NAME;
    if (b == ':') first_class[b] = name_class[b] = METRIC_NAME;
  }
}

static int chars_ok(const uint8_t *s, size_t n, int cls) {
  if (n == 0 || !(first_class[s[0]] & cls)) return 0;
  for (size_t i = 1; i < n; i++)
    if (!(name_class[s[i]] & cls)) return 0;
  return 1;
}

/* 8 bytes a step (the last step overlapping the one before), never reading past s[n). A
   byte-at-a-time loop was the largest item of the scan: ~62 instructions per label value. */
static inline __attribute__((always_inline)) int ascii(const uint8_t *s, size_t n) {
  uint64_t any = 0;
  if (n >= 8) {
    any = load64le(s) | load64le(s + n - 8);
    for (size_t i = 8; i + 8 < n; i += 8) any |= load64le(s + i);
  } else if (n >= 4) {
    any = load32le(s) | load32le(s + n - 4);
  } else {
    for (size_t i = 0; i < n; i++) any |= s[i];
  }
  return (any & 0x8080808080808080ull) == 0;
}

/* a[0, n) == b[0, n), in words as ascii() reads them */
static inline int same_bytes(const uint8_t *a, const uint8_t *b, size_t n) {
  if (n >= 8) {
    /* 8 to 16 bytes (most names): two words, no loop */
    if (n <= 16) return ((load64le(a) ^ load64le(b)) | (load64le(a + n - 8) ^ load64le(b + n - 8))) == 0;
    for (size_t i = 0; i + 8 < n; i += 8)
      if (load64le(a + i) != load64le(b + i)) return 0;
    return load64le(a + n - 8) == load64le(b + n - 8);
  }
  if (n >= 4) return load32le(a) == load32le(b) && load32le(a + n - 4) == load32le(b + n - 4);
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

/* byte order, then length: compareRanges in bytes.ts (names are short: no memcmp call) */
static int compare(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  size_t n = an < bn ? an : bn;
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return (int)a[i] - (int)b[i];
  return an < bn ? -1 : an > bn ? 1 : 0;
}

/* A Sample [p, end) of value (0x09, fixed64) and timestamp (0x10, int64 varint: the last
   one if repeated, 0 if absent; bits past 64 dropped, as decoders do), nothing else: its
   timestamp in *ts; 0 for any other shape. */
static int plain_sample(const uint8_t *b, size_t p, size_t end, int64_t *ts) {
  if (end - p >= 11 && end - p <= 20 && b[p] == 0x09 && b[p + 9] == 0x10) {
    /* the canonical sample, 09 <8 bytes> 10 <varint to the end>: the varint's length is
       known, so no per-byte bound checks; anything else takes the walk below */
    const uint8_t *q = b + p + 10;
    size_t last = end - p - 11;
    uint64_t v = 0;
    unsigned more = 0x80;
    for (size_t k = 0; k < last; k++) {
      more &= q[k];
      v |= (uint64_t)(q[k] & 0x7f) << (7 * k);
    }
    if (more && q[last] < 0x80) {
      *ts = (int64_t)(v | (uint64_t)q[last] << (7 * last));
      return 1;
    }
  }
  uint64_t t = 0;
  while (p < end) {
    uint8_t tag = b[p++];
    if (tag == 0x09) {
      if (end - p < 8) return 0;
      p += 8;
    } else if (tag == 0x10) {
      uint64_t v = 0;
      for (int i = 0;; i++) {
        if (i == 10 || p >= end) return 0;
        uint8_t c = b[p++];
        v |= (uint64_t)(c & 0x7f) << (7 * i);
        if (c < 0x80) break;
      }
      t = v;
    } else {
      return 0;
    }
  }
  *ts = (int64_t)t;
  return 1;
}

typedef struct {
  uint32_t max_labels, max_name, max_value, max_metric;
  const uint8_t *cluster; /* NULL: no cluster configured */
  size_t cluster_len;
  int enforce; /* the cluster value must match (tenants: reject / overwrite) */
} rules;

#define NO_INSERT ((size_t)-1)

/*
 * Names and metric names this request has already passed, in a small direct-mapped table
 * each (a slot per hash of length and end bytes; a clash replaces). A request repeats a
 * few dozen label names and metric names across thousands of series: a name found here
 * skips its character walk and takes its verdicts (is it __name__ or cluster, does it sort
 * after "cluster") and its order key from the entry.
 * Order keys: a name's first 8 bytes, big-endian, zero-padded. Checked names hold no zero
 * byte, so keys that differ order two names as compare() does (a shorter name's padding
 * sorts before any byte); equal keys of names of at most 8 bytes are the same name;
 * otherwise compare() decides.
 */
#define KNOWN_BITS 6
#define KIND_PLAIN 0
#define KIND_METRIC 1 /* __name__ */
#define KIND_CLUSTER 2
typedef struct {
  const uint8_t *s;
  size_t len; /* SIZE_MAX: empty */
  uint64_t key;
  uint8_t kind;
  uint8_t after_cluster; /* sorts after "cluster": where a missing cluster label goes */
} known;
typedef struct {
  known names[1 << KNOWN_BITS];
  known metrics[1 << KNOWN_BITS]; /* __name__ values */
} known_set;

static void known_init(known_set *k) {
  for (size_t i = 0; i < (1u << KNOWN_BITS); i++) k->names[i].len = k->metrics[i].len = SIZE_MAX;
}

/* s[0, n), n >= 1 */
static inline known *known_slot(known *table, const uint8_t *s, size_t n) {
  uint32_t x = n >= 4 ? load32le(s) ^ (load32le(s + n - 4) * 0x85ebca77u) : (uint32_t)s[0] | (uint32_t)s[n >> 1] << 8 | (uint32_t)s[n - 1] << 16;
  return table + (((x + (uint32_t)n) * 0x9e3779b1u) >> (32 - KNOWN_BITS));
}

static inline int known_is(const known *e, const uint8_t *s, size_t n) { return e->len == n && same_bytes(e->s, s, n); }

static uint64_t order_key(const uint8_t *s, size_t n) {
  uint64_t k = 0;
  for (size_t i = 0; i < 8; i++) k = k << 8 | (i < n ? s[i] : 0);
  return k;
}

/*
 * One TimeSeries payload [p, end); adds its samples and folds their timestamps into
 * [*tmin, *tmax]; DEFER on anything off the fast path.
 * *insert_at: NO_INSERT, or (a cluster label is configured and missing) where its field
 * goes: before the first label named after "cluster", else after the last label — as the
 * JS rewrite splices it, which needs the labels to come first, together.
 * *run_end: where the labels end when they all come before the samples (the run
 * series_hash hashes, from p), else NO_INSERT.
 */
static int scan_series(const uint8_t *b, size_t p, size_t end, const rules *r, known_set *k, double *samples, int64_t *tmin, int64_t *tmax, size_t *insert_at,
                       size_t *run_end) {
  /* in locals: stores through the byte pointers below could alias *r, forcing reloads */
  const size_t max_labels = r->max_labels, max_value = r->max_value;
  uint32_t labels = 0;
  int has_name = 0, has_cluster = 0, sample_seen = 0, contiguous = 1;
  const uint8_t *prev = NULL;
  size_t prev_len = 0;
  uint64_t prev_key = 0;
  size_t at = NO_INSERT, labels_end = p;
  while (p < end) {
    size_t field_start = p, fend, len, nl, vl;
    const uint8_t *name, *value;
    uint32_t w;
    if (end - p >= 4 && ((w = load32le(b + p)) & 0x80ff80ffu) == 0x000a000au && (len = (w >> 8) & 0xff) <= end - p - 2 && (nl = w >> 24) + 4 <= len &&
        b[p + 4 + nl] == 0x12 && (vl = b[p + 5 + nl]) == len - 4 - nl) {
      /* the commonest field, a label with one-byte lengths: its tag and length and the name's
         in one load, then the walk below without its bound checks (the value's length byte
         equals len - 4 - nl < 0x80: a one-byte varint) */
      name = b + p + 4;
      value = name + nl + 2;
      fend = p + 2 + len;
    } else {
      uint8_t tag = b[p++];
      if (!read_len(b, &p, end, &len) || len > end - p) return DEFER;
      fend = p + len;
      if (tag == 0x12) {
        sample_seen = 1;
        int64_t ts;
        if (!plain_sample(b, p, fend, &ts)) return DEFER;
        if (ts < *tmin) *tmin = ts;
        if (ts > *tmax) *tmax = ts;
        *samples += 1;
        p = fend;
        continue;
      }
      if (tag != 0x0a) return DEFER; /* exemplars, histograms, unknown fields */
      /* Label: exactly name (0x0a) then value (0x12) */
      size_t q = p;
      if (q >= fend || b[q++] != 0x0a || !read_len(b, &q, fend, &nl) || nl > fend - q) return DEFER;
      name = b + q;
      q += nl;
      if (q >= fend || b[q++] != 0x12 || !read_len(b, &q, fend, &vl) || vl != fend - q) return DEFER;
      value = b + q;
    }
    if (++labels > max_labels || nl == 0 || vl == 0) return DEFER;
    known *e = known_slot(k->names, name, nl);
    if (!known_is(e, name, nl)) {
      known fresh = {name, nl, 0, KIND_PLAIN, 0};
      if (nl == 8 && memcmp(name, "__name__", 8) == 0) {
        fresh.kind = KIND_METRIC;
      } else {
        if (nl > r->max_name || !chars_ok(name, nl, LABEL_NAME)) return DEFER;
        if (nl == 7 && memcmp(name, "cluster", 7) == 0) fresh.kind = KIND_CLUSTER;
      }
      fresh.key = order_key(name, nl);
      fresh.after_cluster = compare(name, nl, (const uint8_t *)"cluster", 7) > 0;
      *e = fresh;
    }
    /* unsorted or duplicate */
    if (prev != NULL && (prev_key > e->key || (prev_key == e->key && (nl <= 8 && prev_len <= 8 ? 1 : compare(prev, prev_len, name, nl) >= 0)))) return DEFER;
    if (e->kind == KIND_METRIC) {
      known *m = known_slot(k->metrics, value, vl);
      if (!known_is(m, value, vl)) {
        if (vl > max_value || vl > r->max_metric || !ascii(value, vl) || !chars_ok(value, vl, METRIC_NAME)) return DEFER;
        *m = (known){value, vl, 0, KIND_PLAIN, 0};
      }
      has_name = 1;
    } else {
      if (vl > max_value || !ascii(value, vl)) return DEFER;
      if (e->kind == KIND_CLUSTER) {
        if (r->enforce && (vl != r->cluster_len || memcmp(value, r->cluster, vl) != 0)) return DEFER;
        has_cluster = 1;
      }
    }
    if (at == NO_INSERT && e->after_cluster) at = field_start;
    if (sample_seen) contiguous = 0;
    labels_end = fend;
    prev = name;
    prev_len = nl;
    prev_key = e->key;
    p = fend;
  }
  if (!has_name) return DEFER;
  /* every label before every sample: series_hash's leading run of labels is [start, labels_end) */
  *run_end = contiguous ? labels_end : NO_INSERT;
  *insert_at = NO_INSERT;
  if (r->cluster != NULL && !has_cluster) {
    if (!contiguous || labels + 1 > r->max_labels) return DEFER;
    *insert_at = at == NO_INSERT ? labels_end : at;
  }
  return VALID;
}

static size_t write_varint(uint8_t *out, size_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  out[n++] = (uint8_t)v;
  return n;
}

/*
 * Adding the cluster label. The request changes in two places per series that lacks the
 * label: its tag and length prefix, and the new field. The scan records them as edits; the
 * rewritten request is the decompressed one with the edits applied (as rewriteLabels writes
 * it, test/remote-write/native.test.ts), compressed here by snappy_compress. Re-emitting the
 * sender's own snappy block with the edits spliced in instead (sessions 2-6) cost more on
 * the bench set (0.39 against 0.30 CPU-µs per sample on top of the scan) and came out 8 %
 * larger than a fresh compression: bench/README.md, session 7.
 */
typedef struct {
  size_t pos, end;   /* raw[pos, end) is replaced (end == pos: an insertion before raw[pos]) */
  size_t head;       /* offset of the new tag + length in `heads`, or NO_INSERT: the cluster field */
  size_t head_len;
} edit;

static _Thread_local edit *edits = NULL;
static _Thread_local size_t edits_cap = 0;
static _Thread_local uint8_t *heads = NULL;
static _Thread_local size_t heads_cap = 0;

/*
 * Records the two edits of a series that lacks the cluster label, found by the scan: its
 * tag and length prefix raw[begin, start) become 0x0a + the new length (as rewriteLabels
 * writes them) and the field goes in at `at`. `*shift` is the decoded-length change so far.
 */
static int add_insert(size_t *n_edits, size_t *h, int64_t *shift, size_t begin, size_t start, size_t len, size_t at, size_t field_len) {
  if (!reserve((void **)&edits, &edits_cap, *n_edits + 2, sizeof(edit)) || !reserve((void **)&heads, &heads_cap, *h + 6, 1)) return 0;
  size_t head_len = 1 + write_varint(heads + *h + 1, len + field_len);
  heads[*h] = 0x0a;
  *shift += (int64_t)head_len - (int64_t)(start - begin);
  edits[(*n_edits)++] = (edit){begin, start, *h, head_len};
  *h += head_len;
  *shift += (int64_t)field_len;
  edits[(*n_edits)++] = (edit){at, at, NO_INSERT, 0};
  return 1;
}

/* partition()'s working buffers (the function is further down) */
typedef struct {
  size_t begin, end; /* the entry's bytes, tag included */
  uint32_t part;
  int64_t new_len;   /* a series that lost samples: its new payload length; -1: copied as it is */
} part_entry;

static _Thread_local part_entry *pents = NULL;
static _Thread_local size_t pents_cap = 0;
static _Thread_local uint8_t *gathered = NULL; /* label fields of a series that has them apart */
static _Thread_local size_t gathered_cap = 0;
static _Thread_local size_t *poffsets = NULL; /* where each part's next entry goes */
static _Thread_local size_t poffsets_cap = 0;

/* translateV2()'s working buffers (the function is further down) */
static _Thread_local uint32_t *syms = NULL; /* symbol i is scratch[syms[2i], syms[2i+1]) */
static _Thread_local size_t syms_cap = 0;
static _Thread_local uint8_t *sym_checked = NULL; /* per symbol: which checks ran, which passed */
static _Thread_local size_t sym_checked_cap = 0;
static _Thread_local uint32_t *v2_series = NULL; /* each TimeSeries' [start, end) */
static _Thread_local size_t v2_series_cap = 0;
static _Thread_local uint32_t *v2_refs = NULL; /* one series' label references */
static _Thread_local size_t v2_refs_cap = 0;
static _Thread_local uint8_t *v1_out = NULL; /* the 1.0 request being written */
static _Thread_local size_t v1_out_cap = 0;
static _Thread_local uint8_t *packed = NULL; /* and compressed */
static _Thread_local size_t packed_cap = 0;
static _Thread_local uint16_t *snappy_table = NULL;
static _Thread_local size_t snappy_table_cap = 0;
typedef struct {
  uint32_t start, len; /* the family's name in the 2.0 request */
  uint32_t type, help, unit; /* help and unit as symbol references */
} family;
static _Thread_local family *families = NULL; /* in order of first appearance */
static _Thread_local size_t families_cap = 0;
static _Thread_local uint32_t *family_slots = NULL; /* open addressing: index + 1, 0 empty */
static _Thread_local size_t family_slots_cap = 0;

static void release(int all) {
  if (all || scratch_cap > RETAIN_MAX) { free(scratch); scratch = NULL; scratch_cap = 0; }
  if (all || edits_cap * sizeof(edit) > RETAIN_MAX) { free(edits); edits = NULL; edits_cap = 0; }
  if (all || heads_cap > RETAIN_MAX) { free(heads); heads = NULL; heads_cap = 0; }
  if (all || pents_cap * sizeof(part_entry) > RETAIN_MAX) { free(pents); pents = NULL; pents_cap = 0; }
  if (all || gathered_cap > RETAIN_MAX) { free(gathered); gathered = NULL; gathered_cap = 0; }
  if (all || poffsets_cap * sizeof(size_t) > RETAIN_MAX) { free(poffsets); poffsets = NULL; poffsets_cap = 0; }
  if (all || syms_cap * sizeof(uint32_t) > RETAIN_MAX) { free(syms); syms = NULL; syms_cap = 0; }
  if (all || sym_checked_cap > RETAIN_MAX) { free(sym_checked); sym_checked = NULL; sym_checked_cap = 0; }
  if (all || v2_series_cap * sizeof(uint32_t) > RETAIN_MAX) { free(v2_series); v2_series = NULL; v2_series_cap = 0; }
  if (all || v2_refs_cap * sizeof(uint32_t) > RETAIN_MAX) { free(v2_refs); v2_refs = NULL; v2_refs_cap = 0; }
  if (all || v1_out_cap > RETAIN_MAX) { free(v1_out); v1_out = NULL; v1_out_cap = 0; }
  if (all || packed_cap > RETAIN_MAX) { free(packed); packed = NULL; packed_cap = 0; }
  if (all) { free(snappy_table); snappy_table = NULL; snappy_table_cap = 0; }
  if (all || families_cap * sizeof(family) > RETAIN_MAX) { free(families); families = NULL; families_cap = 0; }
  if (all || family_slots_cap * sizeof(uint32_t) > RETAIN_MAX) { free(family_slots); family_slots = NULL; family_slots_cap = 0; }
}

static void cleanup(void *arg) {
  (void)arg;
  release(1);
}

/*
 * scan(block, maxDecoded, limits: Uint32Array[4], cluster: Buffer|null, enforce: bool,
 *      out: Float64Array[5], clusterField: Buffer|null, alloc?: (n) => Buffer)
 *   out: series, samples, decoded length, oldest and newest sample time.
 *   → true: valid, forward the block as it is; a Buffer: valid once the cluster field is
 *     added where series lack it, and this is that request as a snappy block; false: defer.
 *   With alloc, that Buffer is alloc(length) (the relay leases it from its pool) rather
 *   than one this call allocates. With a 10th argument hashes: Uint32Array (and out of 6),
 *   a valid request's series hashes, as seriesHashes() gives them for the request to send,
 *   go into hashes and their count into out[5] (-1: hashes is too small). The 9th is
 *   scanRaw()'s pack, ignored here.
 */
/* scan()'s and translateV2()'s shared arguments: (block, maxDecoded, limits: Uint32Array[4],
   cluster: Buffer|null, enforce: bool, out: Float64Array[5], clusterField: Buffer|null,
   alloc?). 0 (a TypeError thrown) if they are not of that form. */
typedef struct {
  uint8_t *block;
  size_t block_len;
  double max_decoded;
  double *out;
  rules r;
  const uint8_t *field;
  size_t field_len;
  napi_value alloc; /* NULL: none */
  bool pack; /* scanRaw: compress the request even when nothing is added to it */
  uint32_t *hashes; /* scan: where the series' hashes go (NULL: not wanted), out[5] their count */
  size_t hashes_cap;
} request_args;

static int read_request_args(napi_env env, napi_callback_info info, const char *usage, request_args *a) {
  size_t argc = 10;
  napi_value argv[10];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t *limits;
  size_t limits_len, out_len, byte_off;
  napi_typedarray_type ty;
  napi_value ab;
  bool enforce = false;
  if (argc < 6 || napi_get_buffer_info(env, argv[0], (void **)&a->block, &a->block_len) != napi_ok ||
      napi_get_value_double(env, argv[1], &a->max_decoded) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &ty, &limits_len, (void **)&limits, &ab, &byte_off) != napi_ok || ty != napi_uint32_array || limits_len < 4 ||
      napi_get_typedarray_info(env, argv[5], &ty, &out_len, (void **)&a->out, &ab, &byte_off) != napi_ok || ty != napi_float64_array || out_len < 5) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  rules *r = &a->r;
  r->max_labels = limits[0];
  r->max_name = limits[1];
  r->max_value = limits[2];
  r->max_metric = limits[3];
  r->cluster = NULL;
  r->cluster_len = 0;
  napi_valuetype vt;
  napi_typeof(env, argv[3], &vt);
  if (vt == napi_object) {
    uint8_t *c;
    size_t cl;
    if (napi_get_buffer_info(env, argv[3], (void **)&c, &cl) == napi_ok) {
      r->cluster = cl == 0 ? (const uint8_t *)"" : c;
      r->cluster_len = cl;
    }
  }
  napi_get_value_bool(env, argv[4], &enforce);
  r->enforce = enforce && r->cluster != NULL;
  a->field = NULL;
  a->field_len = 0;
  if (argc >= 7) {
    napi_typeof(env, argv[6], &vt);
    if (vt == napi_object && napi_get_buffer_info(env, argv[6], (void **)&a->field, &a->field_len) != napi_ok) a->field = NULL;
  }
  a->alloc = NULL;
  if (argc >= 8 && napi_typeof(env, argv[7], &vt) == napi_ok && vt == napi_function) a->alloc = argv[7];
  a->pack = false;
  if (argc >= 9) napi_get_value_bool(env, argv[8], &a->pack);
  a->hashes = NULL;
  a->hashes_cap = 0;
  if (argc >= 10 && out_len >= 6 && napi_typeof(env, argv[9], &vt) == napi_ok && vt == napi_object) {
    size_t hl;
    uint32_t *h;
    if (napi_get_typedarray_info(env, argv[9], &ty, &hl, (void **)&h, &ab, &byte_off) == napi_ok && ty == napi_uint32_array) {
      a->hashes = h;
      a->hashes_cap = hl;
    }
  }
  return 1;
}

/* The block decompressed into `scratch` (its length in *n), or NULL: malformed, empty, over
   maxDecoded, or claiming a ratio snappy cannot reach (so nothing is allocated for it). */
static const uint8_t *decode_block(const request_args *a, size_t *n, size_t *hdr) {
  int64_t want = snappy_header(a->block, a->block_len, hdr);
  if (want <= 0 || (double)want > a->max_decoded || (double)want > (double)(a->block_len - *hdr) * 64.0 / 3.0) return NULL;
  if (!reserve((void **)&scratch, &scratch_cap, (size_t)want + SLACK, 1) || !snappy_decode(a->block + *hdr, a->block_len - *hdr, scratch, (size_t)want)) return NULL;
  *n = (size_t)want;
  return scratch;
}

/* bytes[0, len) as a JS Buffer: alloc(len)'s when there is an allocator (the relay's leases),
   else a fresh copy; false if that cannot be made, NULL if alloc threw (it propagates). */
static napi_value hand_over(napi_env env, const request_args *a, const uint8_t *bytes, size_t len, const char *who) {
  napi_value result;
  void *data;
  if (a->alloc != NULL) {
    napi_value len_v, undef;
    size_t data_len;
    napi_create_double(env, (double)len, &len_v);
    napi_get_undefined(env, &undef);
    if (napi_call_function(env, undef, a->alloc, 1, &len_v, &result) != napi_ok) return NULL;
    if (napi_get_buffer_info(env, result, &data, &data_len) != napi_ok || data_len != len) {
      napi_throw_type_error(env, NULL, who);
      return NULL;
    }
    memcpy(data, bytes, len);
    return result;
  }
  if (napi_create_buffer_copy(env, len, bytes, &data, &result) != napi_ok) napi_get_boolean(env, false, &result);
  return result;
}

static uint32_t hash_labels(const uint8_t *p, size_t n);
static int series_hash(const uint8_t *b, size_t start, size_t end, uint32_t *h);

/*
 * The walk over a decompressed request b[0, n) that scan() and scanRaw() share: VALID with
 * out[0..4] filled and, where series lack the cluster label, its insertions recorded as
 * edits (*n_edits, *shift: add_insert's); DEFER for anything off the fast path.
 */
static int scan_decoded(const uint8_t *b, size_t n, const request_args *a, size_t *n_edits, int64_t *shift) {
  size_t p = 0, h = 0;
  double series = 0, samples = 0;
  int64_t tmin = INT64_MAX, tmax = INT64_MIN;
  known_set known;
  known_init(&known);
  /* the series' hashes (scan() with hashes), while each one's bytes are in cache; left to
     scan_request when a series gets the cluster label (its hash is the rewritten series') */
  size_t hashed = 0;
  int hashing = a->hashes != NULL;
  while (p < n) {
    size_t begin = p, len, at, run_end;
    /* metadata, unknown fields, or malformed: the JS path */
    if (b[p++] != 0x0a || !read_len(b, &p, n, &len) || len > n - p) return DEFER;
    if (scan_series(b, p, p + len, &a->r, &known, &samples, &tmin, &tmax, &at, &run_end) != VALID) return DEFER;
    if (at != NO_INSERT && (a->field == NULL || !add_insert(n_edits, &h, shift, begin, p, len, at, a->field_len))) return DEFER;
    if (hashing) {
      if (at != NO_INSERT || hashed >= a->hashes_cap) hashing = 0;
      else if (run_end != NO_INSERT) a->hashes[hashed++] = hash_labels(b + p, run_end - p);
      else if (!series_hash(b, p, p + len, &a->hashes[hashed++])) hashing = 0;
    }
    series += 1;
    p += len;
  }
  if (a->hashes != NULL) a->out[5] = hashing ? (double)hashed : -1;
  if (series == 0) return DEFER;
  a->out[0] = series;
  a->out[1] = samples;
  a->out[2] = (double)((int64_t)n + *shift);
  /* as the JS validator reports them: doubles (rounded past 2^53), ±Infinity for none */
  a->out[3] = samples > 0 ? (double)tmin : INFINITY;
  a->out[4] = samples > 0 ? (double)tmax : -INFINITY;
  return VALID;
}

static size_t snappy_compress(const uint8_t *raw, size_t n);
static double hash_all_series(const uint8_t *b, size_t n, uint32_t *out, size_t cap);

/* raw[0, n) with the edits applied into v1_out, compressed into `packed`; its length, 0 on failure. */
static size_t rewrite_and_compress(const uint8_t *raw, size_t n, size_t n_edits, const uint8_t *field, size_t field_len, size_t new_len) {
  if (!reserve((void **)&v1_out, &v1_out_cap, new_len, 1)) return 0;
  size_t o = 0, p = 0;
  for (size_t e = 0; e < n_edits; e++) {
    const edit *d = &edits[e];
    memcpy(v1_out + o, raw + p, d->pos - p);
    o += d->pos - p;
    if (d->head != NO_INSERT) {
      memcpy(v1_out + o, heads + d->head, d->head_len);
      o += d->head_len;
    } else {
      memcpy(v1_out + o, field, field_len);
      o += field_len;
    }
    p = d->end;
  }
  memcpy(v1_out + o, raw + p, n - p);
  o += n - p;
  if (o != new_len) return 0;
  return snappy_compress(v1_out, new_len);
}

static napi_value scan_request(napi_env env, napi_callback_info info) {
  request_args a;
  napi_value result;
  if (!read_request_args(env, info, "scan(block, maxDecoded, Uint32Array[4], cluster, enforce, Float64Array[5])", &a)) return NULL;
  size_t n_edits = 0, hdr = 0, n = 0;
  int64_t shift = 0;
  const uint8_t *b = decode_block(&a, &n, &hdr);
  int ok = b != NULL ? scan_decoded(b, n, &a, &n_edits, &shift) : DEFER;
  if (ok == VALID && n_edits > 0) {
    /* series lacked the cluster label: the request with it added, compressed */
    size_t new_len = (size_t)((int64_t)n + shift);
    size_t packed_len = rewrite_and_compress(b, n, n_edits, a.field, a.field_len, new_len);
    if (packed_len == 0) {
      napi_get_boolean(env, false, &result);
      return result;
    }
    if (a.hashes != NULL) {
      double count = hash_all_series(v1_out, new_len, a.hashes, a.hashes_cap);
      a.out[5] = count <= (double)a.hashes_cap ? count : -1; /* -1: too small (or malformed) */
    }
    return hand_over(env, &a, packed, packed_len, "scan: alloc(n) must return a Buffer of n bytes");
  }
  napi_get_boolean(env, ok == VALID, &result);
  return result;
}

/*
 * Splitting a request by series (shared/remote-write/partition.ts, which has the same walk
 * in JS and must give the same bytes). Every timeseries entry goes to part
 * hash_labels(its label fields) % shards; metadata and unknown fields to part 0; with a
 * cut-off, samples and histograms older than it are removed (a series left with none goes
 * whole), and only such a series is re-encoded: everything else is copied as it is.
 */

/* A varint of up to 10 bytes (bits past 64 dropped); 0 if truncated or longer. */
static int read_varint64(const uint8_t *b, size_t *pos, size_t end, uint64_t *value) {
  size_t p = *pos;
  uint64_t v = 0;
  for (int i = 0; i < 10; i++) {
    if (p >= end) return 0;
    uint8_t c = b[p++];
    v |= (uint64_t)(c & 0x7f) << (7 * i);
    if (c < 0x80) {
      *pos = p;
      *value = v;
      return 1;
    }
  }
  return 0;
}

static int skip_field(const uint8_t *b, size_t *pos, size_t end, unsigned wire) {
  uint64_t v;
  switch (wire) {
    case 0: return read_varint64(b, pos, end, &v);
    case 1: if (end - *pos < 8) return 0; *pos += 8; return 1;
    case 2: if (!read_varint64(b, pos, end, &v) || v > end - *pos) return 0; *pos += (size_t)v; return 1;
    case 5: if (end - *pos < 4) return 0; *pos += 4; return 1;
    default: return 0;
  }
}

/* A tag; 0 on field number 0, a tag past 32 bits, or truncation (as readTag in wire.ts). */
static int read_tag(const uint8_t *b, size_t *pos, size_t end, uint32_t *tag) {
  uint64_t v;
  if (*pos < end && b[*pos] < 0x80) v = b[(*pos)++];
  else if (!read_varint64(b, pos, end, &v)) return 0;
  if (v < 8 || v > 0xffffffffu) return 0;
  *tag = (uint32_t)v;
  return 1;
}

/* The last varint field with this tag in the message [p, end), as an int64 (0 if absent): a
   Sample's (0x10) or Histogram's (0x78) timestamp. */
static int message_time(const uint8_t *b, size_t p, size_t end, uint32_t want, int64_t *ts) {
  /* the canonical sample, 09 <8 bytes> 10 <varint>, straight to its timestamp */
  if (want == 0x10 && end - p >= 11 && b[p] == 0x09 && b[p + 9] == 0x10) {
    size_t q = p + 10;
    uint64_t v;
    if (read_varint64(b, &q, end, &v) && q == end) {
      *ts = (int64_t)v;
      return 1;
    }
  }
  int64_t t = 0;
  while (p < end) {
    uint32_t tag;
    if (!read_tag(b, &p, end, &tag)) return 0;
    if (tag == want) {
      uint64_t v;
      if (!read_varint64(b, &p, end, &v)) return 0;
      t = (int64_t)v;
    } else if (!skip_field(b, &p, end, tag & 7)) {
      return 0;
    }
  }
  *ts = t;
  return 1;
}

static inline uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

static inline uint32_t mix32(uint32_t h, uint32_t w) { return rotl32((h ^ w) * 0x9e3779b1u, 15); }

/* hashLabels in partition.ts: four lanes over 16-byte blocks, the last block overlapping the
   one before (or, under 16 bytes, zero-padded words), fmix32. */
static uint32_t hash_labels(const uint8_t *p, size_t n) {
  uint32_t h1 = 0x27d4eb2fu ^ (uint32_t)n, h2 = 0x165667b1u, h3 = 0xc2b2ae3du, h4 = 0x61c88647u;
  if (n >= 16) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      h1 = mix32(h1, load32le(p + i));
      h2 = mix32(h2, load32le(p + i + 4));
      h3 = mix32(h3, load32le(p + i + 8));
      h4 = mix32(h4, load32le(p + i + 12));
    }
    if (i < n) {
      h1 = mix32(h1, load32le(p + n - 16));
      h2 = mix32(h2, load32le(p + n - 12));
      h3 = mix32(h3, load32le(p + n - 8));
      h4 = mix32(h4, load32le(p + n - 4));
    }
  } else {
    size_t i = 0;
    for (int lane = 0; i < n; lane++) {
      uint32_t w = 0;
      for (int k = 0; k < 4 && i < n; k++, i++) w |= (uint32_t)p[i] << (8 * k);
      if (lane == 0) h1 = mix32(h1, w);
      else if (lane == 1) h2 = mix32(h2, w);
      else if (lane == 2) h3 = mix32(h3, w);
      else h4 = mix32(h4, w);
    }
  }
  uint32_t h = h1 ^ rotl32(h2, 8) ^ rotl32(h3, 16) ^ rotl32(h4, 24);
  h ^= h >> 16;
  h *= 0x85ebca77u;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

/* The label fields of the series payload [p, end) concatenated into `gathered`; 0 on failure. */
static int gather_labels(const uint8_t *b, size_t p, size_t end, size_t *n) {
  size_t len = 0;
  while (p < end) {
    size_t f = p;
    uint32_t tag;
    if (!read_tag(b, &p, end, &tag) || !skip_field(b, &p, end, tag & 7)) return 0;
    if (tag == 0x0a) {
      if (!reserve((void **)&gathered, &gathered_cap, len + (p - f), 1)) return 0;
      memcpy(gathered + len, b + f, p - f);
      len += p - f;
    }
  }
  *n = len;
  return 1;
}

/* The hash partition() shards the series payload b[start, end) by: its leading run of label
   fields, or all of them gathered when they come apart. 0 if malformed. */
static int series_hash(const uint8_t *b, size_t start, size_t end, uint32_t *h) {
  size_t q = start;
  while (q < end && b[q] == 0x0a) {
    size_t l;
    q++;
    if (!read_len(b, &q, end, &l) || l > end - q) return 0;
    q += l;
  }
  size_t labels_end = q;
  int more = 0;
  while (q < end) {
    uint32_t t;
    if (!read_tag(b, &q, end, &t)) return 0;
    if (t == 0x0a) more = 1;
    if (!skip_field(b, &q, end, t & 7)) return 0;
  }
  if (!more) {
    *h = hash_labels(b + start, labels_end - start);
    return 1;
  }
  size_t gl;
  if (!gather_labels(b, start, end, &gl)) return 0;
  *h = hash_labels(gathered, gl);
  return 1;
}

/*
 * seriesHashes(block: Buffer, out: Uint32Array) → the number of series in the snappy-compressed
 *   WriteRequest `block`, their hashes (as partition() computes them) in out[0..] as far as
 *   out holds them; false if it is not a snappy block of a well-formed request. The forwarder
 *   routes whole records by these without splitting them (local-proxy/series-owners.ts).
 */
static napi_value series_hashes_request(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const uint8_t *block;
  size_t block_len, out_len, byte_off;
  uint32_t *out;
  napi_typedarray_type ty;
  napi_value ab;
  if (argc < 2 || napi_get_buffer_info(env, argv[0], (void **)&block, &block_len) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], &ty, &out_len, (void **)&out, &ab, &byte_off) != napi_ok || ty != napi_uint32_array) {
    napi_throw_type_error(env, NULL, "seriesHashes(block, Uint32Array)");
    return NULL;
  }
  size_t hdr = 0;
  int64_t want = snappy_header(block, block_len, &hdr);
  int ok = want >= 0 && (double)want <= (double)(block_len - hdr) * 64.0 / 3.0 + 1 &&
           reserve((void **)&scratch, &scratch_cap, (size_t)want + SLACK, 1) &&
           (want == 0 || snappy_decode(block + hdr, block_len - hdr, scratch, (size_t)want));
  double count = ok ? hash_all_series(scratch, (size_t)want, out, out_len) : -1;
  if (count < 0) napi_get_boolean(env, false, &result);
  else napi_create_double(env, count, &result);
  return result;
}

/* The hash of each series of the request b[0, n) (partition()'s), as many as fit into
   out[0, cap); the number of series (more than cap when out is too small), or -1 if the
   request is malformed. seriesHashes() runs it on a block it decodes, scan() on a request
   it has just rewritten with the cluster label. */
static double hash_all_series(const uint8_t *b, size_t n, uint32_t *out, size_t cap) {
  size_t count = 0, p = 0;
  while (p < n) {
    uint32_t tag;
    size_t len;
    if (!read_tag(b, &p, n, &tag)) return -1;
    if (tag != 0x0a) {
      if (!skip_field(b, &p, n, tag & 7)) return -1;
      continue;
    }
    uint32_t h;
    if (!read_len(b, &p, n, &len) || len > n - p || !series_hash(b, p, p + len, &h)) return -1;
    if (count < cap) out[count] = h;
    count++;
    p += len;
  }
  return (double)count;
}

/* Writes the series entry b[begin, end) without its samples and histograms older than min_time. */
static uint8_t *write_filtered(const uint8_t *b, size_t begin, size_t end, int64_t new_len, double min_time, uint8_t *o) {
  size_t p = begin, len = 0;
  uint32_t tag = 0;
  read_tag(b, &p, end, &tag);
  read_len(b, &p, end, &len);
  *o++ = 0x0a;
  o += write_varint(o, (size_t)new_len);
  size_t run = p;
  while (p < end) {
    size_t f = p;
    read_tag(b, &p, end, &tag);
    if (tag == 0x12 || tag == 0x22) {
      size_t fl = 0;
      read_len(b, &p, end, &fl);
      int64_t ts = 0;
      message_time(b, p, p + fl, tag == 0x12 ? 0x10 : 0x78, &ts);
      p += fl;
      if ((double)ts < min_time) {
        memcpy(o, b + run, f - run);
        o += f - run;
        run = p;
      }
    } else {
      skip_field(b, &p, end, tag & 7);
    }
  }
  memcpy(o, b + run, end - run);
  return o + (end - run);
}

/*
 * partition(raw: Buffer, shards, minTime, out: Float64Array[4 * shards + 2], alloc?: (n) => Buffer,
 *           assign?: Uint8Array)
 *   out: samples per part, oldest per part, newest per part, bytes per part, dropped samples,
 *   and the part that is `raw` itself when the answer is true.
 *   → a Buffer holding the parts one after another (alloc(n) when given: the caller's memory,
 *     say a pool's); true: `raw` is the only non-empty part, unchanged; false: malformed (the
 *     JS walk says how).
 *   assign: the part of each series, by its index among the request's series, instead of its
 *   hash (a RangeError if it is too short or names a part >= shards).
 */
static napi_value partition_request(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const uint8_t *b;
  size_t n;
  uint32_t shards;
  double min_time;
  double *out;
  size_t out_len, byte_off;
  napi_typedarray_type ty;
  napi_value ab;
  if (argc < 4 || napi_get_buffer_info(env, argv[0], (void **)&b, &n) != napi_ok || napi_get_value_uint32(env, argv[1], &shards) != napi_ok || shards == 0 ||
      napi_get_value_double(env, argv[2], &min_time) != napi_ok ||
      napi_get_typedarray_info(env, argv[3], &ty, &out_len, (void **)&out, &ab, &byte_off) != napi_ok || ty != napi_float64_array || out_len < 4 * (size_t)shards + 2) {
    napi_throw_type_error(env, NULL, "partition(raw, shards, minTime, Float64Array[4 * shards + 2])");
    return NULL;
  }
  const uint8_t *assign = NULL;
  size_t assign_len = 0, series_i = 0;
  if (argc >= 6) {
    napi_valuetype at = napi_undefined;
    napi_typeof(env, argv[5], &at);
    if (at != napi_undefined && (napi_get_typedarray_info(env, argv[5], &ty, &assign_len, (void **)&assign, &ab, &byte_off) != napi_ok || ty != napi_uint8_array)) {
      napi_throw_type_error(env, NULL, "partition: assign must be a Uint8Array");
      return NULL;
    }
  }
  double *samples = out, *mins = out + shards, *maxs = out + 2 * shards, *sizes = out + 3 * shards;
  for (uint32_t k = 0; k < shards; k++) {
    samples[k] = 0;
    mins[k] = INFINITY;
    maxs[k] = -INFINITY;
    sizes[k] = 0;
  }
  int filter = min_time > -INFINITY;
  double dropped = 0;
  size_t count = 0, p = 0;
  int ok = 1;
  while (p < n) {
    size_t begin = p;
    uint32_t tag, part = 0;
    int64_t new_len = -1;
    if (!read_tag(b, &p, n, &tag)) { ok = 0; break; }
    if (tag != 0x0a) {
      if (!skip_field(b, &p, n, tag & 7)) { ok = 0; break; }
    } else {
      size_t len;
      if (!read_len(b, &p, n, &len) || len > n - p) { ok = 0; break; }
      size_t start = p, end = p + len, q = p;
      /* the leading run of label fields, then the rest */
      while (q < end && b[q] == 0x0a) {
        size_t l;
        q++;
        if (!read_len(b, &q, end, &l) || l > end - q) { ok = 0; break; }
        q += l;
      }
      if (!ok) break;
      size_t labels_end = q, lost_bytes = 0;
      int more_labels = 0;
      double kept = 0, lost = 0;
      int64_t tmin = INT64_MAX, tmax = INT64_MIN;
      while (q < end) {
        size_t f = q;
        uint32_t t;
        if (!read_tag(b, &q, end, &t)) { ok = 0; break; }
        if (t == 0x12 || t == 0x22) {
          size_t fl;
          int64_t ts;
          if (!read_len(b, &q, end, &fl) || fl > end - q || !message_time(b, q, q + fl, t == 0x12 ? 0x10 : 0x78, &ts)) { ok = 0; break; }
          q += fl;
          if (filter && (double)ts < min_time) {
            lost += 1;
            lost_bytes += q - f;
          } else {
            kept += 1;
            if (ts < tmin) tmin = ts;
            if (ts > tmax) tmax = ts;
          }
        } else {
          if (t == 0x0a) more_labels = 1;
          if (!skip_field(b, &q, end, t & 7)) { ok = 0; break; }
        }
      }
      if (!ok) break;
      p = end;
      if (assign != NULL) {
        if (series_i >= assign_len || assign[series_i] >= shards) {
          napi_throw_range_error(env, NULL, "partition: assign has no part below shards for a series");
          return NULL;
        }
        part = assign[series_i++];
      } else if (shards > 1) {
        size_t gl;
        if (!more_labels) part = hash_labels(b + start, labels_end - start) % shards;
        else if (gather_labels(b, start, end, &gl)) part = hash_labels(gathered, gl) % shards;
        else { ok = 0; break; }
      }
      if (lost > 0) {
        dropped += lost;
        if (kept == 0) continue; /* nothing left: the series goes, exemplars and all */
        new_len = (int64_t)(len - lost_bytes);
      }
      samples[part] += kept;
      if (kept > 0) {
        if ((double)tmin < mins[part]) mins[part] = (double)tmin;
        if ((double)tmax > maxs[part]) maxs[part] = (double)tmax;
      }
    }
    if (!reserve((void **)&pents, &pents_cap, count + 1, sizeof(part_entry))) { ok = 0; break; }
    pents[count++] = (part_entry){begin, p, part, new_len};
    uint8_t scratch_len[10];
    sizes[part] += new_len < 0 ? (double)(p - begin) : (double)(1 + write_varint(scratch_len, (size_t)new_len) + (size_t)new_len);
  }
  out[4 * shards] = dropped;
  if (!ok) {
    napi_get_boolean(env, false, &result);
    return result;
  }
  uint32_t used = 0, only = 0;
  for (uint32_t k = 0; k < shards; k++)
    if (sizes[k] > 0) {
      used++;
      only = k;
    }
  if (dropped == 0 && used <= 1) {
    /* everything in one part, unchanged: the request itself */
    out[4 * shards + 1] = only;
    napi_get_boolean(env, true, &result);
    return result;
  }
  size_t total = 0;
  if (!reserve((void **)&poffsets, &poffsets_cap, shards, sizeof(size_t))) {
    napi_get_boolean(env, false, &result);
    return result;
  }
  size_t *offsets = poffsets;
  for (uint32_t k = 0; k < shards; k++) {
    offsets[k] = total;
    total += (size_t)sizes[k];
  }
  uint8_t *o;
  napi_valuetype vt = napi_undefined;
  if (argc >= 5) napi_typeof(env, argv[4], &vt);
  if (vt == napi_function) {
    napi_value len_v, undef;
    size_t got;
    napi_create_double(env, (double)total, &len_v);
    napi_get_undefined(env, &undef);
    if (napi_call_function(env, undef, argv[4], 1, &len_v, &result) != napi_ok) return NULL; /* alloc threw: it propagates */
    if (napi_get_buffer_info(env, result, (void **)&o, &got) != napi_ok || got != total) {
      napi_throw_type_error(env, NULL, "partition: alloc(n) must return a Buffer of n bytes");
      return NULL;
    }
    /* alloc ran JS, which must not call partition again (pents, poffsets): partition.ts refuses that */
  } else if (napi_create_buffer(env, total, (void **)&o, &result) != napi_ok) {
    return NULL;
  }
  for (size_t i = 0; i < count; i++) {
    part_entry *e = &pents[i];
    uint8_t *w = o + offsets[e->part];
    if (e->new_len < 0) {
      /* a run of untouched, adjacent entries for the same part (no dropped series between): one copy */
      size_t j = i;
      while (j + 1 < count && pents[j + 1].part == e->part && pents[j + 1].new_len < 0 && pents[j + 1].begin == pents[j].end) j++;
      memcpy(w, b + e->begin, pents[j].end - e->begin);
      offsets[e->part] += pents[j].end - e->begin;
      i = j;
    } else {
      offsets[e->part] = (size_t)(write_filtered(b, e->begin, e->end, e->new_len, min_time, w) - o);
    }
  }
  return result;
}

/*
 * Snappy block compression (the format's reference algorithm: 64 KiB fragments, a hash
 * table of 4-byte sequences, literals between matches, copies skipping ahead faster over
 * incompressible input). translateV2 compresses what it wrote here: one call instead of
 * handing the uncompressed request to JS and the snappy package, and no large Buffer
 * allocated per request.
 */
#define SNAPPY_FRAGMENT 65536
#define SNAPPY_HASH_BITS 14
/* past snappy's bound of 32 + n + n / 6: a short literal's 16-byte move may overrun its end */
#define COMPRESS_SLACK 16

static inline uint32_t snappy_hash(uint32_t v) { return (v * 0x1e35a7bdu) >> (32 - SNAPPY_HASH_BITS); }

static uint8_t *emit_literal(uint8_t *o, const uint8_t *s, size_t n) {
  size_t v = n - 1;
  if (v < 60) {
    *o++ = (uint8_t)(v << 2);
  } else {
    int k = v < 0x100 ? 1 : v < 0x10000 ? 2 : v < 0x1000000 ? 3 : 4;
    *o++ = (uint8_t)((59 + k) << 2);
    for (int j = 0; j < k; j++) *o++ = (uint8_t)(v >> (8 * j));
  }
  memcpy(o, s, n);
  return o + n;
}

/* a copy of len (4 or more) bytes from offset back (1 to 65535) */
static uint8_t *emit_copy(uint8_t *o, size_t offset, size_t len) {
  while (len >= 68) {
    *o++ = (uint8_t)((63 << 2) | 2);
    *o++ = (uint8_t)offset;
    *o++ = (uint8_t)(offset >> 8);
    len -= 64;
  }
  if (len > 64) { /* leave at least 4 for the last one */
    *o++ = (uint8_t)((59 << 2) | 2);
    *o++ = (uint8_t)offset;
    *o++ = (uint8_t)(offset >> 8);
    len -= 60;
  }
  if (len < 12 && offset < 2048) {
    *o++ = (uint8_t)(((offset >> 8) << 5) | ((len - 4) << 2) | 1);
    *o++ = (uint8_t)offset;
  } else {
    *o++ = (uint8_t)(((len - 1) << 2) | 2);
    *o++ = (uint8_t)offset;
    *o++ = (uint8_t)(offset >> 8);
  }
  return o;
}

/* A literal of 1 to 16 bytes with 16 bytes of input readable at s: one fixed-size move (the
   output has COMPRESS_SLACK bytes past the bound for the overrun). */
static inline uint8_t *emit_short_literal(uint8_t *o, const uint8_t *s, size_t n) {
  *o++ = (uint8_t)((n - 1) << 2);
  memcpy(o, s, 16);
  return o + n;
}

static inline uint16_t *table_entry(uint16_t *table, uint32_t v) { return table + snappy_hash(v); }

/*
 * One fragment (at most 64 KiB) of elements; table has 1 << SNAPPY_HASH_BITS entries. The
 * reference algorithm with two of the later reference implementation's speed-ups (the
 * same elements come out, byte for byte): the first 16 positions of each search hashed from
 * 8-byte loads shifted a byte at a time, and literals of up to 16 bytes (most of them: a
 * request's series repeat long label runs between short differences) moved as one fixed
 * 16-byte copy instead of a memcpy call of variable length. bench/README.md, session 8.
 */
static uint8_t *compress_fragment(const uint8_t *in, size_t n, uint8_t *o, uint16_t *table) {
  const uint8_t *ip = in, *end = in + n, *next_emit = in;
  if (n >= 15) {
    memset(table, 0, sizeof(uint16_t) << SNAPPY_HASH_BITS);
    const uint8_t *ip_limit = end - 15; /* 4-byte loads stay inside */
    for (;;) {
      next_emit = ip++;
      const uint8_t *candidate;
      uint32_t skip = 32;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      if (ip_limit - ip >= 16) {
        uint64_t data = load64le(ip);
        uint32_t delta = (uint32_t)(ip - in);
        for (int j = 0; j < 4; j++) {
          for (int k = 0; k < 4; k++) {
            int i = 4 * j + k;
            uint16_t *e = table_entry(table, (uint32_t)data);
            candidate = in + *e;
            *e = (uint16_t)(delta + (uint32_t)i);
            if (load32le(candidate) == (uint32_t)data) {
              /* [next_emit, ip + i) is at most 16 bytes: a short literal */
              ip += i;
              o = emit_short_literal(o, next_emit, (size_t)(ip - next_emit));
              goto emit_match;
            }
            data >>= 8;
          }
          data = load64le(ip + 4 * j + 4);
        }
        ip += 16;
        skip += 16;
      }
#endif
      /* look for a 4-byte match, stepping further the longer none is found */
      for (;;) {
        uint32_t v = load32le(ip);
        uint16_t *e = table_entry(table, v);
        const uint8_t *next_ip = ip + (skip++ >> 5);
        if (next_ip > ip_limit) {
          ip = next_emit;
          goto rest;
        }
        candidate = in + *e;
        *e = (uint16_t)(ip - in);
        if (load32le(candidate) == v) break;
        ip = next_ip;
      }
      o = ip - next_emit <= 16 ? emit_short_literal(o, next_emit, (size_t)(ip - next_emit)) : emit_literal(o, next_emit, (size_t)(ip - next_emit));
    emit_match:
      /* copies for as long as the bytes after one match start another */
      do {
        const uint8_t *base = ip;
        size_t matched = 4;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* 8 bytes a step: a request's series repeat long runs of label bytes */
        while (ip + matched + 8 <= end) {
          uint64_t x = load64le(ip + matched), y = load64le(candidate + matched);
          if (x != y) {
            matched += (size_t)__builtin_ctzll(x ^ y) >> 3; /* little-endian: the first differing byte */
            goto matched_all;
          }
          matched += 8;
        }
#endif
        while (ip + matched < end && candidate[matched] == ip[matched]) matched++;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      matched_all:
#endif
        ip += matched;
        o = emit_copy(o, (size_t)(base - candidate), matched);
        if (ip >= ip_limit) {
          next_emit = ip;
          goto rest;
        }
        table[snappy_hash(load32le(ip - 1))] = (uint16_t)(ip - 1 - in);
        uint32_t v = load32le(ip);
        uint16_t *e = table_entry(table, v);
        candidate = in + *e;
        *e = (uint16_t)(ip - in);
      } while (load32le(ip) == load32le(candidate));
    }
  }
rest:
  if (next_emit < end) o = emit_literal(o, next_emit, (size_t)(end - next_emit));
  return o;
}

/* raw[0, n) as a snappy block in `packed`; its length, or 0 if out of memory. */
static size_t snappy_compress(const uint8_t *raw, size_t n) {
  if (!reserve((void **)&packed, &packed_cap, 32 + n + n / 6 + COMPRESS_SLACK, 1) || !reserve((void **)&snappy_table, &snappy_table_cap, (size_t)1 << SNAPPY_HASH_BITS, sizeof(uint16_t))) return 0;
  uint8_t *o = packed + write_varint(packed, n);
  for (size_t at = 0; at < n; at += SNAPPY_FRAGMENT) {
    size_t len = n - at < SNAPPY_FRAGMENT ? n - at : SNAPPY_FRAGMENT;
    o = compress_fragment(raw + at, len, o, snappy_table);
  }
  return (size_t)(o - packed);
}

/*
 * Remote-write 2.0 in (shared/remote-write/v2.ts is the reference, and the JS path for
 * everything this leaves): a snappy io.prometheus.write.v2.Request of plain series (label
 * references, plain samples, metadata) becomes, in one pass, the prometheus.WriteRequest
 * translateV2Request writes, checked by the rules scan_series applies to 1.0 requests. A
 * symbol is checked once per role (label name, value, metric name) however many series
 * refer to it, not once per label. Where the cluster label is configured and missing it
 * goes in as rewriteLabels puts it. Anything else defers, and the JS path decides.
 */

#define V2_VALUE 1 /* checked as a label value; passed: << 1 */
#define V2_NAME 4  /* checked as a label name */
#define V2_METRIC 16

static inline size_t varint_len(size_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* Symbol s passes the check `role` (cached: computed on its first use in the request). */
static inline int symbol_ok(const uint8_t *b, const uint32_t *sym, uint8_t *checked, uint32_t s, uint8_t role, const rules *r) {
  uint8_t f = checked[s];
  if (f & role) return (f & (role << 1)) != 0;
  const uint8_t *p = b + sym[2 * s];
  size_t n = sym[2 * s + 1] - sym[2 * s];
  int ok;
  if (role == V2_VALUE) ok = n > 0 && n <= r->max_value && ascii(p, n);
  else if (role == V2_NAME) ok = n <= r->max_name && chars_ok(p, n, LABEL_NAME);
  else ok = n <= r->max_metric && chars_ok(p, n, METRIC_NAME);
  checked[s] = (uint8_t)(f | role | (ok ? role << 1 : 0));
  return ok;
}

/* One 1.0 Label field at o; returns the new end. */
static inline uint8_t *put_label(uint8_t *o, const uint8_t *name, size_t nl, const uint8_t *value, size_t vl) {
  size_t payload = 2 + varint_len(nl) + nl + varint_len(vl) + vl;
  *o++ = 0x0a;
  o += write_varint(o, payload);
  *o++ = 0x0a;
  o += write_varint(o, nl);
  memcpy(o, name, nl);
  o += nl;
  *o++ = 0x12;
  o += write_varint(o, vl);
  memcpy(o, value, vl);
  return o + vl;
}

typedef struct {
  const uint8_t *b; /* the decompressed 2.0 request */
  const uint32_t *syms; /* the thread-locals, read once (each access is a call in a shared object) */
  uint8_t *checked;
  uint32_t nsym;
  const rules *r;
  const uint8_t *field; /* the cluster label field to add, or NULL */
  size_t field_len;
  size_t max_out;
  size_t o; /* bytes of v1_out written */
  double samples;
  int64_t tmin, tmax;
  size_t nfam, nslots; /* families noted, family_slots in use (a power of two) */
} v2_state;

#define TYPE_HISTOGRAM 3
#define TYPE_GAUGEHISTOGRAM 4
#define TYPE_SUMMARY 5

static uint32_t fnv1a(const uint8_t *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

static int ends_with(const uint8_t *p, size_t n, const char *suffix, size_t k) {
  return n >= k && memcmp(p + n - k, suffix, k) == 0;
}

/*
 * A series' metadata for its metric family (noteFamily in v2.ts): a histogram's or
 * summary's name less _bucket/_sum/_count/_created, and the first series of a family speaks
 * for it. 0 if out of memory.
 */
static int note_family(v2_state *st, uint32_t name_ref, uint32_t type, uint32_t help, uint32_t unit) {
  const uint8_t *name = st->b + st->syms[2 * name_ref];
  size_t n = st->syms[2 * name_ref + 1] - st->syms[2 * name_ref];
  if (type == TYPE_HISTOGRAM || type == TYPE_GAUGEHISTOGRAM || type == TYPE_SUMMARY) {
    if (ends_with(name, n, "_bucket", 7)) n -= 7;
    else if (ends_with(name, n, "_sum", 4)) n -= 4;
    else if (ends_with(name, n, "_count", 6)) n -= 6;
    else if (ends_with(name, n, "_created", 8)) n -= 8;
  }
  if (2 * (st->nfam + 1) > st->nslots) {
    /* grow (or first use) and re-slot what is there */
    size_t slots = st->nslots == 0 ? 64 : 2 * st->nslots;
    if (!reserve((void **)&family_slots, &family_slots_cap, slots, sizeof(uint32_t))) return 0;
    memset(family_slots, 0, slots * sizeof(uint32_t));
    st->nslots = slots;
    for (size_t i = 0; i < st->nfam; i++) {
      size_t k = fnv1a(st->b + families[i].start, families[i].len) & (slots - 1);
      while (family_slots[k] != 0) k = (k + 1) & (slots - 1);
      family_slots[k] = (uint32_t)(i + 1);
    }
  }
  size_t k = fnv1a(name, n) & (st->nslots - 1);
  for (; family_slots[k] != 0; k = (k + 1) & (st->nslots - 1)) {
    const family *f = &families[family_slots[k] - 1];
    if (f->len == n && memcmp(st->b + f->start, name, n) == 0) return 1;
  }
  if (!reserve((void **)&families, &families_cap, st->nfam + 1, sizeof(family))) return 0;
  families[st->nfam] = (family){(uint32_t)(name - st->b), (uint32_t)n, type, help, unit};
  family_slots[k] = (uint32_t)(++st->nfam);
  return 1;
}

/* MetricMetadata { type = 1; metric_family_name = 2; help = 4; unit = 5; } per family, as writeMetadata in v2.ts. */
static int write_families(v2_state *st) {
  for (size_t i = 0; i < st->nfam; i++) {
    const family *f = &families[i];
    size_t hl = st->syms[2 * f->help + 1] - st->syms[2 * f->help], ul = st->syms[2 * f->unit + 1] - st->syms[2 * f->unit];
    size_t payload = (f->type != 0 ? 2 : 0) + (f->len > 0 ? 1 + varint_len(f->len) + f->len : 0) + (hl > 0 ? 1 + varint_len(hl) + hl : 0) + (ul > 0 ? 1 + varint_len(ul) + ul : 0);
    size_t need = st->o + 1 + varint_len(payload) + payload;
    if (need + 32 > st->max_out || !reserve((void **)&v1_out, &v1_out_cap, need, 1)) return DEFER; /* as above */
    uint8_t *o = v1_out + st->o;
    *o++ = 0x1a;
    o += write_varint(o, payload);
    if (f->type != 0) {
      *o++ = 0x08;
      *o++ = (uint8_t)f->type;
    }
    const struct { uint8_t tag; const uint8_t *p; size_t n; } strings[3] = {
      {0x12, st->b + f->start, f->len}, {0x22, st->b + st->syms[2 * f->help], hl}, {0x2a, st->b + st->syms[2 * f->unit], ul}};
    for (int j = 0; j < 3; j++) {
      if (strings[j].n == 0) continue;
      *o++ = strings[j].tag;
      o += write_varint(o, strings[j].n);
      memcpy(o, strings[j].p, strings[j].n);
      o += strings[j].n;
    }
    st->o = (size_t)(o - v1_out);
  }
  return VALID;
}

/* The 2.0 TimeSeries [p, end) appended to v1_out as a 1.0 TimeSeries; DEFER on anything off the fast path. */
static int translate_series(v2_state *st, size_t p, size_t end) {
  const uint8_t *b = st->b;
  const uint32_t *syms = st->syms;
  const rules *r = st->r;
  uint32_t *refs = v2_refs;
  size_t nrefs = 0, sample_bytes = 0, q = p;
  double samples = 0;
  int64_t tmin = st->tmin, tmax = st->tmax;
  int has_meta = 0;
  uint64_t meta[5] = {0, 0, 0, 0, 0}; /* Metadata { type = 1; help_ref = 3; unit_ref = 4; } by field number */
  /* first the references, the samples' shape and size, the metadata */
  while (q < end) {
    uint8_t tag = b[q++];
    uint64_t v;
    size_t len;
    if (tag == 0x08) { /* labels_refs, unpacked */
      if (!read_varint64(b, &q, end, &v) || v >= st->nsym) return DEFER;
      if (nrefs + 1 > v2_refs_cap) {
        if (!reserve((void **)&v2_refs, &v2_refs_cap, nrefs + 1, sizeof(uint32_t))) return DEFER;
        refs = v2_refs;
      }
      refs[nrefs++] = (uint32_t)v;
      continue;
    }
    if ((tag != 0x0a && tag != 0x12 && tag != 0x2a) || !read_len(b, &q, end, &len) || len > end - q) return DEFER;
    size_t fend = q + len;
    if (tag == 0x0a) { /* labels_refs, packed: at most one reference per byte */
      if (nrefs + len > v2_refs_cap) {
        if (!reserve((void **)&v2_refs, &v2_refs_cap, nrefs + len, sizeof(uint32_t))) return DEFER;
        refs = v2_refs;
      }
      while (q < fend) {
        if (b[q] < 0x80) {
          v = b[q++];
        } else if (!read_varint64(b, &q, fend, &v)) {
          return DEFER;
        }
        if (v >= st->nsym) return DEFER;
        refs[nrefs++] = (uint32_t)v;
      }
    } else if (tag == 0x12) {
      /* as scan_series takes them; a start timestamp (0x18) would be dropped by the translation: the JS path */
      int64_t ts;
      if (!plain_sample(b, q, fend, &ts)) return DEFER;
      if (ts < tmin) tmin = ts;
      if (ts > tmax) tmax = ts;
      samples += 1;
      sample_bytes += 1 + varint_len(len) + len;
    } else {
      has_meta = 1;
      while (q < fend) {
        uint8_t t = b[q++];
        if ((t != 0x08 && t != 0x18 && t != 0x20) || !read_varint64(b, &q, fend, &v)) return DEFER; /* other fields: the JS path */
        meta[t >> 3] = v;
      }
    }
    q = fend;
  }
  /* a series without samples writes no 1.0 series (or, with histograms or exemplars, another kind) */
  if (samples == 0 || nrefs == 0 || nrefs % 2 != 0 || nrefs / 2 > r->max_labels) return DEFER;

  /* then the labels: 2.0's rules and 1.0's, sizes */
  size_t labels_bytes = 0, at = NO_INSERT;
  int has_name = 0, has_cluster = 0;
  uint32_t name_ref = 0;
  const uint8_t *prev = NULL;
  size_t prev_len = 0;
  for (size_t i = 0; i < nrefs; i += 2) {
    uint32_t n = refs[i], v = refs[i + 1];
    const uint8_t *name = b + syms[2 * n], *value = b + syms[2 * v];
    size_t nl = syms[2 * n + 1] - syms[2 * n], vl = syms[2 * v + 1] - syms[2 * v];
    if (!symbol_ok(b, syms, st->checked, v, V2_VALUE, r)) return DEFER;
    if (nl == 8 && memcmp(name, "__name__", 8) == 0) {
      if (!symbol_ok(b, syms, st->checked, v, V2_METRIC, r)) return DEFER;
      has_name = 1;
      name_ref = v;
    } else {
      if (!symbol_ok(b, syms, st->checked, n, V2_NAME, r)) return DEFER;
      if (nl == 7 && memcmp(name, "cluster", 7) == 0) {
        if (r->enforce && (vl != r->cluster_len || memcmp(value, r->cluster, vl) != 0)) return DEFER;
        has_cluster = 1;
      }
    }
    if (prev != NULL && compare(prev, prev_len, name, nl) >= 0) return DEFER; /* unsorted or duplicate */
    if (at == NO_INSERT && compare(name, nl, (const uint8_t *)"cluster", 7) > 0) at = i;
    size_t lp = 2 + varint_len(nl) + nl + varint_len(vl) + vl;
    labels_bytes += 1 + varint_len(lp) + lp;
    prev = name;
    prev_len = nl;
  }
  if (!has_name) return DEFER;
  if (has_meta && (meta[1] | meta[3] | meta[4]) != 0) {
    /* a type in one byte; help and unit as the 1.0 validator takes them (UTF-8: ASCII here, the rest the JS path) */
    if (meta[1] >= 0x80 || meta[3] >= st->nsym || meta[4] >= st->nsym) return DEFER;
    for (int j = 3; j <= 4; j++) {
      uint32_t m = (uint32_t)meta[j];
      if (!ascii(b + syms[2 * m], syms[2 * m + 1] - syms[2 * m])) return DEFER;
    }
    if (!note_family(st, name_ref, (uint32_t)meta[1], (uint32_t)meta[3], (uint32_t)meta[4])) return DEFER;
  }
  int insert = r->cluster != NULL && !has_cluster;
  if (insert) {
    if (st->field == NULL || nrefs / 2 + 1 > r->max_labels) return DEFER;
    labels_bytes += st->field_len;
  }

  /* and the 1.0 TimeSeries: labels, the cluster label where it sorts, samples as they came */
  size_t payload = labels_bytes + sample_bytes;
  size_t need = st->o + 1 + varint_len(payload) + payload;
  /* within translateV2Request's reservations of MAX_DECODED_BYTES (it makes room for up to 11
     bytes more per reference, and 5 for a length) the JS path decides: it may answer 413 */
  if (need + 11 * nrefs + 16 > st->max_out || !reserve((void **)&v1_out, &v1_out_cap, need, 1)) return DEFER;
  uint8_t *o = v1_out + st->o;
  *o++ = 0x0a;
  o += write_varint(o, payload);
  for (size_t i = 0; i < nrefs; i += 2) {
    if (insert && at == i) {
      memcpy(o, st->field, st->field_len);
      o += st->field_len;
    }
    uint32_t n = refs[i], v = refs[i + 1];
    o = put_label(o, b + syms[2 * n], syms[2 * n + 1] - syms[2 * n], b + syms[2 * v], syms[2 * v + 1] - syms[2 * v]);
  }
  if (insert && at == NO_INSERT) {
    memcpy(o, st->field, st->field_len);
    o += st->field_len;
  }
  for (q = p; q < end;) {
    uint8_t tag = b[q++];
    uint64_t v;
    size_t len = 0; /* walked once already: the reads below cannot fail */
    if (tag == 0x08) {
      read_varint64(b, &q, end, &v);
      continue;
    }
    read_len(b, &q, end, &len);
    if (tag == 0x12) {
      *o++ = 0x12;
      o += write_varint(o, len);
      memcpy(o, b + q, len);
      o += len;
    }
    q += len;
  }
  st->o = (size_t)(o - v1_out);
  st->samples += samples;
  st->tmin = tmin;
  st->tmax = tmax;
  return VALID;
}

/*
 * translateV2(block, maxDecoded, limits: Uint32Array[4], cluster: Buffer|null, enforce: bool,
 *             out: Float64Array[5], clusterField: Buffer|null, alloc?: (n) => Buffer)
 *   block: a snappy io.prometheus.write.v2.Request.
 *   → a Buffer: the equivalent prometheus.WriteRequest as a snappy block, valid (with the
 *     cluster field added where series lacked it); out as scan()'s, of that request.
 *     With alloc, that Buffer is alloc(length)'s (the relay leases it from its pool).
 *     false: defer to the JS path (translateV2Request, then validation).
 */
static napi_value translate_v2_request(napi_env env, napi_callback_info info) {
  request_args a;
  napi_value result;
  if (!read_request_args(env, info, "translateV2(block, maxDecoded, Uint32Array[4], cluster, enforce, Float64Array[5])", &a)) return NULL;
  size_t n = 0, hdr = 0, p = 0, nser = 0;
  uint32_t nsym = 0;
  const uint8_t *b = decode_block(&a, &n, &hdr);
  if (b == NULL || n > UINT32_MAX) goto defer;
  /* the symbol table and where each series is: Request { symbols = 4; timeseries = 5; } */
  while (p < n) {
    uint8_t tag = b[p++];
    size_t len;
    if ((tag != 0x22 && tag != 0x2a) || !read_len(b, &p, n, &len) || len > n - p) goto defer;
    if (tag == 0x22) {
      if (!reserve((void **)&syms, &syms_cap, 2 * ((size_t)nsym + 1), sizeof(uint32_t))) goto defer;
      syms[2 * nsym] = (uint32_t)p;
      syms[2 * nsym + 1] = (uint32_t)(p + len);
      nsym++;
    } else {
      if (!reserve((void **)&v2_series, &v2_series_cap, 2 * (nser + 1), sizeof(uint32_t))) goto defer;
      v2_series[2 * nser] = (uint32_t)p;
      v2_series[2 * nser + 1] = (uint32_t)(p + len);
      nser++;
    }
    p += len;
  }
  if (nsym == 0 || syms[0] != syms[1] || nser == 0 || !reserve((void **)&sym_checked, &sym_checked_cap, nsym, 1)) goto defer;
  memset(sym_checked, 0, nsym);
  v2_state st = {b, syms, sym_checked, nsym, &a.r, a.field, a.field_len, a.max_decoded < (double)SIZE_MAX ? (size_t)a.max_decoded : SIZE_MAX, 0, 0, INT64_MAX, INT64_MIN, 0, 0};
  for (size_t i = 0; i < nser; i++) {
    if (translate_series(&st, v2_series[2 * i], v2_series[2 * i + 1]) != VALID) goto defer;
  }
  if (write_families(&st) != VALID) goto defer;
  size_t packed_len = snappy_compress(v1_out, st.o);
  if (packed_len == 0) goto defer;
  a.out[0] = (double)nser;
  a.out[1] = st.samples;
  a.out[2] = (double)st.o;
  a.out[3] = (double)st.tmin;
  a.out[4] = (double)st.tmax;
  return hand_over(env, &a, packed, packed_len, "translateV2: alloc(n) must return a Buffer of n bytes");
defer:
  napi_get_boolean(env, false, &result);
  return result;
}

/*
 * decodeInto(block, maxDecoded, dest: Buffer)
 *   The snappy block decompressed into dest, which must hold its declared length + 32 bytes
 *   (the decoder's slack), so the caller can reuse one buffer for every request instead of
 *   a fresh one each (garbage the relabel path made per request). → the decoded length, or
 *   -1: malformed, empty, over maxDecoded, dest too small; the JS decoder then words why.
 */
static napi_value decode_into(napi_env env, napi_callback_info info) {
  size_t argc = 3, in_len, dest_len, hdr = 0;
  napi_value argv[3], result;
  uint8_t *in, *dest;
  double max_decoded;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3 || napi_get_buffer_info(env, argv[0], (void **)&in, &in_len) != napi_ok || napi_get_value_double(env, argv[1], &max_decoded) != napi_ok ||
      napi_get_buffer_info(env, argv[2], (void **)&dest, &dest_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "decodeInto(block, maxDecoded, dest)");
    return NULL;
  }
  int64_t want = snappy_header(in, in_len, &hdr);
  int ok = want > 0 && (double)want <= max_decoded && (double)want <= (double)(in_len - hdr) * 64.0 / 3.0 && (size_t)want + SLACK <= dest_len &&
           snappy_decode(in + hdr, in_len - hdr, dest, (size_t)want);
  napi_create_double(env, ok ? (double)want : -1, &result);
  return result;
}

/*
 * scanRaw(raw, maxDecoded, limits, cluster, enforce, out, clusterField, alloc?, pack: bool)
 *   raw: a decompressed WriteRequest (what the relabel rules and series limits left).
 *   Checks it as scan() does; → a Buffer: valid, and this is the request (with the cluster
 *   field added where series lacked it) as a snappy block, compressed here (no request-sized
 *   Buffer for JS, no JS validation); true: valid as it is and `pack` was false (the caller
 *   still has the sender's block); false: defer to the JS path. out as scan()'s.
 */
static napi_value scan_raw_request(napi_env env, napi_callback_info info) {
  request_args a;
  napi_value result;
  if (!read_request_args(env, info, "scanRaw(raw, maxDecoded, Uint32Array[4], cluster, enforce, Float64Array[5], clusterField, alloc, pack)", &a)) return NULL;
  size_t n_edits = 0, n = a.block_len;
  int64_t shift = 0;
  const uint8_t *b = a.block;
  if (n == 0 || scan_decoded(b, n, &a, &n_edits, &shift) != VALID) goto defer;
  if (n_edits == 0 && !a.pack) {
    napi_get_boolean(env, true, &result);
    return result;
  }
  /* the request with the edits applied (the cluster field goes in as rewriteLabels puts it), compressed */
  size_t packed_len = n_edits > 0 ? rewrite_and_compress(b, n, n_edits, a.field, a.field_len, (size_t)((int64_t)n + shift)) : snappy_compress(b, n);
  if (packed_len == 0) goto defer;
  return hand_over(env, &a, packed, packed_len, "scanRaw: alloc(n) must return a Buffer of n bytes");
defer:
  napi_get_boolean(env, false, &result);
  return result;
}

static napi_value translate_v2(napi_env env, napi_callback_info info) {
  napi_value result = translate_v2_request(env, info);
  release(0);
  return result;
}

static napi_value partition(napi_env env, napi_callback_info info) {
  napi_value result = partition_request(env, info);
  release(0);
  return result;
}

static napi_value series_hashes(napi_env env, napi_callback_info info) {
  napi_value result = series_hashes_request(env, info);
  release(0);
  return result;
}

static napi_value scan(napi_env env, napi_callback_info info) {
  napi_value result = scan_request(env, info);
  release(0);
  return result;
}

static napi_value scan_raw(napi_env env, napi_callback_info info) {
  napi_value result = scan_raw_request(env, info);
  release(0);
  return result;
}

/* crc32(bytes, crc = 0): zlib's crc32(crc, bytes), folded with PCLMULQDQ (native/crc32.c) */
static napi_value crc32_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const uint8_t *bytes;
  size_t len;
  uint32_t crc = 0;
  if (argc < 1 || napi_get_buffer_info(env, argv[0], (void **)&bytes, &len) != napi_ok ||
      (argc > 1 && napi_get_value_uint32(env, argv[1], &crc) != napi_ok)) {
    napi_throw_type_error(env, NULL, "crc32(Buffer, crc?)");
    return NULL;
  }
  napi_create_uint32(env, crc32_update(crc, bytes, len), &result);
  return result;
}

NAPI_MODULE_INIT() {
  init_classes();
  napi_add_env_cleanup_hook(env, cleanup, NULL);
  napi_value fn;
  napi_create_function(env, "scan", NAPI_AUTO_LENGTH, scan, NULL, &fn);
  napi_set_named_property(env, exports, "scan", fn);
  napi_create_function(env, "partition", NAPI_AUTO_LENGTH, partition, NULL, &fn);
  napi_set_named_property(env, exports, "partition", fn);
  napi_create_function(env, "seriesHashes", NAPI_AUTO_LENGTH, series_hashes, NULL, &fn);
  napi_set_named_property(env, exports, "seriesHashes", fn);
  napi_create_function(env, "translateV2", NAPI_AUTO_LENGTH, translate_v2, NULL, &fn);
  napi_set_named_property(env, exports, "translateV2", fn);
  napi_create_function(env, "scanRaw", NAPI_AUTO_LENGTH, scan_raw, NULL, &fn);
  napi_set_named_property(env, exports, "scanRaw", fn);
  napi_create_function(env, "decodeInto", NAPI_AUTO_LENGTH, decode_into, NULL, &fn);
  napi_set_named_property(env, exports, "decodeInto", fn);
  if (crc32_available()) {
    napi_create_function(env, "crc32", NAPI_AUTO_LENGTH, crc32_js, NULL, &fn);
    napi_set_named_property(env, exports, "crc32", fn);
  }
  /* native.ts refuses a module of another version (a stale build/ after a pull) */
  napi_value version;
  napi_create_uint32(env, FASTPATH_VERSION, &version);
  napi_set_named_property(env, exports, "version", version);
  return exports;
}
