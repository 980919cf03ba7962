// The `types` world: one export per WIT type, each a small, checkable transformation.
// Ownership follows wit-bindgen's C conventions: arguments are owned by the callee and
// freed here; results are allocated with malloc and freed by the generated post-return.
#include <stdlib.h>
#include <string.h>

#include "types.h"

static void dup_string(types_string_t *dst, const types_string_t *src, int times) {
  dst->len = src->len * times;
  dst->ptr = malloc(dst->len ? dst->len : 1);
  for (int i = 0; i < times; i++) memcpy(dst->ptr + i * src->len, src->ptr, src->len);
}

void exports_types_mirror(types_point_t *p, types_point_t *ret) {
  ret->x = p->y;
  ret->y = p->x;
  dup_string(&ret->label, &p->label, 2);
  types_point_free(p);
}

bool exports_types_double(int32_t *maybe_v, int32_t *ret) {
  if (!maybe_v) return false;
  *ret = *maybe_v * 2;
  return true;
}

bool exports_types_divide(int32_t a, int32_t b, int32_t *ret, types_string_t *err) {
  if (b == 0) {
    types_string_dup(err, "division by zero");
    return false;
  }
  *ret = a / b;
  return true;
}

void exports_types_morph(types_shape_t *s, types_shape_t *ret) {
  switch (s->tag) {
    case TYPES_SHAPE_CIRCLE:
      ret->tag = TYPES_SHAPE_SQUARE;
      ret->val.square = (uint32_t)s->val.circle;
      break;
    case TYPES_SHAPE_SQUARE:
      ret->tag = TYPES_SHAPE_CIRCLE;
      ret->val.circle = (double)s->val.square;
      break;
    default:
      ret->tag = TYPES_SHAPE_NOTHING;
  }
}

types_color_t exports_types_next(types_color_t c) { return (types_color_t)((c + 1) % 3); }

types_perms_t exports_types_toggle(types_perms_t p) {
  return p ^ (TYPES_PERMS_READ | TYPES_PERMS_WRITE | TYPES_PERMS_EXEC);
}

void exports_types_swap(types_tuple2_u8_string_t *t, types_tuple2_string_u8_t *ret) {
  ret->f0 = t->f1;  // ownership of the string moves to the result
  ret->f1 = t->f0;
}

int64_t exports_types_sum(types_list_s64_t *xs) {
  int64_t total = 0;
  for (size_t i = 0; i < xs->len; i++) total += xs->ptr[i];
  types_list_s64_free(xs);
  return total;
}

void exports_types_split(types_string_t *s, types_list_string_t *ret) {
  ret->ptr = malloc(sizeof(types_string_t) * (s->len + 1));
  ret->len = 0;
  size_t start = 0;
  for (size_t i = 0; i <= s->len; i++) {
    if (i == s->len || s->ptr[i] == ' ') {
      if (i > start) types_string_dup_n(&ret->ptr[ret->len++], (const char *)s->ptr + start, i - start);
      start = i + 1;
    }
  }
  types_string_free(s);
}

bool exports_types_even(uint64_t n) { return n % 2 == 0; }

uint32_t exports_types_count(types_list_u8_t *b) {
  uint32_t n = (uint32_t)b->len;
  types_list_u8_free(b);
  return n;
}

float exports_types_half(float x) { return x / 2; }
