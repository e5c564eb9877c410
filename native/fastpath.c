// Native fast path for the relay's commonest request: a snappy WriteRequest of plain
// series (canonical labels, ASCII, sorted, the cluster label already right) with plain
// samples. One call decompresses into a reused buffer and checks every rule the JS
// validator (shared/remote-write/validate.ts) checks for that shape, then answers
// "valid, these counts" — or "defer" for anything else, and the JS path decides (and
// words every rejection). It never rejects: so it can only make the common case cheaper,
// never change an answer. shared/remote-write/native.ts loads it; tests compare it with
// the JS validator on every fixture, random requests and the fuzz corpus.

#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DEFER 0
#define VALID 1

static uint8_t *scratch = NULL;
static size_t scratch_cap = 0;

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

/* Decodes a snappy block's elements into out[0, want); 0 on any inconsistency. */
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
        if (len >= 60) {
          size_t k = len - 59;
          if (i + k > n) return 0;
          len = 0;
          for (size_t j = 0; j < k; j++) len |= (size_t)in[i + j] << (8 * j);
          i += k;
        }
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
    if (len <= 16 && off >= 16) {
      memcpy(out + o, out + o - off, 16); /* source and destination 16 bytes apart at least */
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
static int read_len(const uint8_t *b, size_t *pos, size_t end, size_t *value) {
  size_t p = *pos;
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

static int ascii(const uint8_t *s, size_t n) {
  uint8_t any = 0;
  for (size_t i = 0; i < n; i++) any |= s[i];
  return any < 0x80;
}

/* byte order, then length: compareRanges in bytes.ts (names are short: no memcmp call) */
static int compare(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  size_t n = an < bn ? an : bn;
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return (int)a[i] - (int)b[i];
  return an < bn ? -1 : an > bn ? 1 : 0;
}

typedef struct {
  uint32_t max_labels, max_name, max_value, max_metric;
  const uint8_t *cluster; /* NULL: no cluster configured */
  size_t cluster_len;
  int enforce; /* the cluster value must match (tenants: reject / overwrite) */
} rules;

#define NO_INSERT ((size_t)-1)

/*
 * One TimeSeries payload [p, end); adds its samples; DEFER on anything off the fast path.
 * *insert_at: NO_INSERT, or (a cluster label is configured and missing) where its field
 * goes: before the first label named after "cluster", else after the last label — as the
 * JS rewrite splices it, which needs the labels to come first, together.
 */
static int scan_series(const uint8_t *b, size_t p, size_t end, const rules *r, double *samples, size_t *insert_at) {
  uint32_t labels = 0;
  int has_name = 0, has_cluster = 0, sample_seen = 0, contiguous = 1;
  const uint8_t *prev = NULL;
  size_t prev_len = 0;
  size_t at = NO_INSERT, labels_end = p;
  while (p < end) {
    size_t field_start = p;
    uint8_t tag = b[p++];
    size_t len;
    if (!read_len(b, &p, end, &len) || len > end - p) return DEFER;
    size_t fend = p + len;
    if (tag == 0x0a) {
      /* Label: exactly name (0x0a) then value (0x12) */
      size_t q = p, nl, vl;
      if (q >= fend || b[q++] != 0x0a || !read_len(b, &q, fend, &nl) || nl > fend - q) return DEFER;
      const uint8_t *name = b + q;
      q += nl;
      if (q >= fend || b[q++] != 0x12 || !read_len(b, &q, fend, &vl) || vl != fend - q) return DEFER;
      const uint8_t *value = b + q;
      if (++labels > r->max_labels) return DEFER;
      if (vl == 0 || vl > r->max_value || !ascii(value, vl)) return DEFER;
      if (nl == 8 && memcmp(name, "__name__", 8) == 0) {
        if (vl > r->max_metric || !chars_ok(value, vl, METRIC_NAME)) return DEFER;
        has_name = 1;
      } else {
        if (nl > r->max_name || !chars_ok(name, nl, LABEL_NAME)) return DEFER;
        if (nl == 7 && memcmp(name, "cluster", 7) == 0) {
          if (r->enforce && (vl != r->cluster_len || memcmp(value, r->cluster, vl) != 0)) return DEFER;
          has_cluster = 1;
        }
      }
      if (prev != NULL && compare(prev, prev_len, name, nl) >= 0) return DEFER; /* unsorted or duplicate */
      if (at == NO_INSERT && compare(name, nl, (const uint8_t *)"cluster", 7) > 0) at = field_start;
      if (sample_seen) contiguous = 0;
      labels_end = fend;
      prev = name;
      prev_len = nl;
    } else if (tag == 0x12) {
      sample_seen = 1;
      /* Sample: value (0x09, fixed64) and timestamp (0x10, varint), nothing else */
      size_t q = p;
      while (q < fend) {
        uint8_t t = b[q++];
        if (t == 0x09) {
          if (fend - q < 8) return DEFER;
          q += 8;
        } else if (t == 0x10) {
          int i = 0;
          for (;; i++) {
            if (i == 10 || q >= fend) return DEFER;
            if (b[q++] < 0x80) break;
          }
        } else {
          return DEFER;
        }
      }
      *samples += 1;
    } else {
      return DEFER; /* exemplars, histograms, unknown fields */
    }
    p = fend;
  }
  if (!has_name) return DEFER;
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

static uint8_t *rewritten = NULL;
static size_t rewritten_cap = 0;

/*
 * The validated request b[0, n) with the cluster field spliced into every series that
 * lacks it: the same bytes rewriteLabels (shared/remote-write/rewrite.ts) produces.
 * Returns a new Buffer, or false if something is off (then the JS path runs).
 */
static napi_value rewrite(napi_env env, const uint8_t *b, size_t n, const rules *r, const uint8_t *field, size_t field_len, size_t inserts, double *out) {
  napi_value result;
  size_t bound = n + inserts * (field_len + 5);
  if (bound > rewritten_cap) {
    free(rewritten);
    rewritten_cap = bound + (bound >> 2);
    rewritten = malloc(rewritten_cap);
    if (rewritten == NULL) {
      rewritten_cap = 0;
      napi_get_boolean(env, false, &result);
      return result;
    }
  }
  uint8_t *w = rewritten;
  size_t o = 0, p = 0;
  double ignored = 0;
  while (p < n) {
    size_t begin = p, len = 0, at = NO_INSERT;
    p++; /* 0x0a, checked by the scan */
    if (!read_len(b, &p, n, &len) || len > n - p || scan_series(b, p, p + len, r, &ignored, &at) != VALID) {
      napi_get_boolean(env, false, &result); /* cannot happen after the scan; never guess */
      return result;
    }
    if (at == NO_INSERT) {
      memcpy(w + o, b + begin, p + len - begin);
      o += p + len - begin;
    } else {
      w[o++] = 0x0a;
      o += write_varint(w + o, len + field_len);
      memcpy(w + o, b + p, at - p);
      o += at - p;
      memcpy(w + o, field, field_len);
      o += field_len;
      memcpy(w + o, b + at, p + len - at);
      o += p + len - at;
    }
    p += len;
  }
  out[2] = (double)o;
  void *data;
  if (napi_create_buffer_copy(env, o, w, &data, &result) != napi_ok) napi_get_boolean(env, false, &result);
  return result;
}

/*
 * scan(block, maxDecoded, limits: Uint32Array[4], cluster: Buffer|null, enforce: bool,
 *      out: Float64Array[3], clusterField: Buffer|null)
 *   → true: valid, forward the block as it is; a Buffer: valid once the cluster field is
 *     added where series lack it, and this is that request, uncompressed; false: defer.
 */
static napi_value scan(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int ok = DEFER;
  uint8_t *block;
  size_t block_len;
  double max_decoded;
  uint32_t *limits;
  size_t limits_len;
  double *out;
  size_t out_len;
  napi_typedarray_type ty;
  napi_value ab;
  size_t byte_off;
  bool enforce = false;
  rules r;
  if (argc < 6 || napi_get_buffer_info(env, argv[0], (void **)&block, &block_len) != napi_ok ||
      napi_get_value_double(env, argv[1], &max_decoded) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &ty, &limits_len, (void **)&limits, &ab, &byte_off) != napi_ok || ty != napi_uint32_array || limits_len < 4 ||
      napi_get_typedarray_info(env, argv[5], &ty, &out_len, (void **)&out, &ab, &byte_off) != napi_ok || ty != napi_float64_array || out_len < 3) {
    napi_throw_type_error(env, NULL, "scan(block, maxDecoded, Uint32Array[4], cluster, enforce, Float64Array[3])");
    return NULL;
  }
  r.max_labels = limits[0];
  r.max_name = limits[1];
  r.max_value = limits[2];
  r.max_metric = limits[3];
  r.cluster = NULL;
  r.cluster_len = 0;
  napi_valuetype vt;
  napi_typeof(env, argv[3], &vt);
  if (vt == napi_object) {
    uint8_t *c;
    size_t cl;
    if (napi_get_buffer_info(env, argv[3], (void **)&c, &cl) == napi_ok) {
      r.cluster = cl == 0 ? (const uint8_t *)"" : c;
      r.cluster_len = cl;
    }
  }
  napi_get_value_bool(env, argv[4], &enforce);
  r.enforce = enforce && r.cluster != NULL;
  const uint8_t *field = NULL;
  size_t field_len = 0;
  if (argc >= 7) {
    napi_typeof(env, argv[6], &vt);
    if (vt == napi_object && napi_get_buffer_info(env, argv[6], (void **)&field, &field_len) != napi_ok) field = NULL;
  }
  size_t inserts = 0;

  size_t hdr = 0;
  int64_t want = snappy_header(block, block_len, &hdr);
  if (want > 0 && (double)want <= max_decoded && (double)want <= (double)(block_len - hdr) * 64.0 / 3.0) {
    if ((size_t)want + SLACK > scratch_cap) {
      free(scratch);
      scratch_cap = (size_t)want + ((size_t)want >> 2) + SLACK;
      scratch = malloc(scratch_cap);
      if (scratch == NULL) scratch_cap = 0;
    }
    if (scratch != NULL && snappy_decode(block + hdr, block_len - hdr, scratch, (size_t)want)) {
      const uint8_t *b = scratch;
      size_t n = (size_t)want, p = 0;
      double series = 0, samples = 0;
      ok = VALID;
      while (p < n) {
        size_t len;
        if (b[p++] != 0x0a || !read_len(b, &p, n, &len) || len > n - p) {
          ok = DEFER; /* metadata, unknown fields, or malformed: the JS path */
          break;
        }
        size_t at;
        if (scan_series(b, p, p + len, &r, &samples, &at) != VALID || (at != NO_INSERT && field == NULL)) {
          ok = DEFER;
          break;
        }
        if (at != NO_INSERT) inserts++;
        series += 1;
        p += len;
      }
      if (series == 0) ok = DEFER;
      if (ok == VALID) {
        out[0] = series;
        out[1] = samples;
        out[2] = (double)want;
        if (inserts > 0) return rewrite(env, b, n, &r, field, field_len, inserts, out);
      }
    }
  }
  napi_get_boolean(env, ok == VALID, &result);
  return result;
}

NAPI_MODULE_INIT() {
  init_classes();
  napi_value fn;
  napi_create_function(env, "scan", NAPI_AUTO_LENGTH, scan, NULL, &fn);
  napi_set_named_property(env, exports, "scan", fn);
  return exports;
}
