// Actor guests for the tests and examples (core module, reactor): each export is one
// process body written against wasm/include/wippy_actor.h.
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include "wippy_actor.h"

#define EXPORT(name) __attribute__((export_name(name)))

static char topic[260];
static char from[1100];
static char data[4096];

// Reads the current message: topic and sender as NUL-terminated strings, data into
// `data` (truncated to its size); returns the data's full length.
static int32_t read_current(void) {
  int32_t n = wippy_message_topic(topic, sizeof topic - 1);
  topic[n >= 0 && n < (int32_t)sizeof topic ? n : 0] = 0;
  n = wippy_message_from(from, sizeof from - 1);
  from[n >= 0 && n < (int32_t)sizeof from ? n : 0] = 0;
  int32_t len = wippy_message_data(data, sizeof data - 1);
  data[len >= 0 && len < (int32_t)sizeof data ? len : 0] = 0;
  return len;
}

static int is(const char *t) { return strcmp(topic, t) == 0; }

// Waits for a "peer" message and keeps its text (a PID or a name) in `peer`.
static char peer[1100];
static uint32_t peer_len;
static void wait_for_peer(void) {
  for (;;) {
    wippy_receive(-1);
    int32_t len = read_current();
    if (is("peer") && len > 0 && len < (int32_t)sizeof peer) {
      memcpy(peer, data, len);
      peer_len = len;
      return;
    }
  }
}

// Answers every "ping" with a "pong" carrying the same data, until "stop" or CANCEL;
// returns how many it answered.
EXPORT("pong") int64_t pong(void) {
  int64_t answered = 0;
  for (;;) {
    wippy_receive(-1);
    int32_t len = read_current();
    if (is("stop") || is("@cancel")) return answered;
    if (!is("ping")) continue;
    while (wippy_send(from, strlen(from), "pong", 4, WIPPY_BYTES, data, len) == WIPPY_OVERLOADED)
      wippy_receive(0);
    answered++;
  }
}

// Sends `count` pings to its peer, one at a time, and checks each pong carries the
// number it sent; returns how many came back in order, or -(the first one out of order).
EXPORT("ping") int64_t ping(int32_t count) {
  wait_for_peer();
  for (int32_t i = 0; i < count; i++) {
    int32_t r = wippy_send(peer, peer_len, "ping", 4, WIPPY_BYTES, &i, sizeof i);
    if (r != 0) return r * 1000000000LL;
    for (;;) {
      wippy_receive(-1);
      int32_t len = read_current();
      if (!is("pong")) continue;
      int32_t got;
      if (len != sizeof got) return -(int64_t)i - 1;
      memcpy(&got, data, sizeof got);
      if (got != i) return -(int64_t)i - 1;
      break;
    }
  }
  wippy_send(peer, peer_len, "stop", 4, WIPPY_TEXT, "", 0);
  return count;
}

// Sends to its peer until a send fails; returns how many were accepted, times 100, plus
// the failure's code as a positive number (a full mailbox of 8: 802).
EXPORT("flood") int64_t flood(int32_t most) {
  wait_for_peer();
  for (int32_t i = 0; i < most; i++) {
    int32_t r = wippy_send(peer, peer_len, "load", 4, WIPPY_TEXT, "x", 1);
    if (r != 0) return (int64_t)i * 100 - r;
  }
  return (int64_t)most * 100;
}

// Waits for one message and returns its data read as a decimal number.
EXPORT("first_number") int64_t first_number(void) {
  wippy_receive(-1);
  read_current();
  return strtoll(data, 0, 10);
}

// Waits up to `ms` milliseconds for a message: 1 if one came, 0 if not.
EXPORT("wait_ms") int32_t wait_ms(int64_t ms) { return wippy_receive(ms); }

// Registers as `echo`, then returns one message to its sender with the same topic,
// format and data; returns the format.
EXPORT("echo") int32_t echo(void) {
  if (wippy_register("echo", 4) != 0) return -100;
  for (;;) {
    wippy_receive(-1);
    int32_t len = read_current();
    if (topic[0] == '@') continue;
    if (len < 0 || len >= (int32_t)sizeof data) return -101;
    int32_t format = wippy_message_format();
    int32_t r = wippy_send(from, strlen(from), topic, strlen(topic), format, data, len);
    return r == 0 ? format : r;
  }
}

// Spawns the entry named by the topic of its first message on the host named by its
// data, monitored, with the arguments [6, 7]; returns the child's result value (an
// integer), read from its @exit event.
EXPORT("spawn_child") int64_t spawn_child(void) {
  wippy_receive(-1);
  int32_t len = read_current();
  char child[1100];
  int32_t n = wippy_spawn(topic, strlen(topic), data, len, "[6,7]", 5, WIPPY_SPAWN_MONITORED,
                          child, sizeof child);
  if (n < 0) return n;
  for (;;) {
    wippy_receive(-1);
    read_current();
    if (!is("@exit")) continue;
    char *v = strstr(data, "\"value\":");
    return v ? strtoll(v + 8, 0, 10) : -102;
  }
}

// Hands the host hostile pointers and lengths; returns the codes, each in two digits
// (all WIPPY_FAULT or WIPPY_TOO_LARGE/INVALID_TARGET: 08 08 03 05 08).
EXPORT("hostile") int64_t hostile(void) {
  int64_t codes = 0;
  int32_t r[5];
  r[0] = wippy_send((const char *)0xfffffff0, 64, "t", 1, WIPPY_TEXT, "x", 1);
  r[1] = wippy_self((char *)0xffffff00, 0x1000);
  char me[1100];
  int32_t me_len = wippy_self(me, sizeof me);
  r[2] = wippy_send(me, me_len, "t", 1, WIPPY_BYTES, 0, 0x7fffffff);
  r[3] = wippy_register((const char *)0, 0x10000000);
  r[4] = wippy_spawn((const char *)0xfffffff0, 100, "h", 1, "", 0, 0, me, sizeof me);
  for (int i = 0; i < 5; i++) codes = codes * 100 + (r[i] < 0 ? -r[i] : 99);
  return codes;
}

// A service that fails on purpose: it works for `ms` milliseconds (waiting on its inbox),
// then traps. Under supervision it comes back after the backoff delay. CANCEL ends it
// cleanly.
EXPORT("flaky") int32_t flaky(int64_t ms) {
  if (wippy_receive(ms) == 1) {
    read_current();
    if (is("@cancel")) return 0;
  }
  __builtin_trap();
}

// Appends the decimal digits of `n` at `out`; returns the end.
static char *put_int(char *out, long long n) {
  char digits[24];
  int k = 0;
  unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
  do { digits[k++] = (char)('0' + u % 10); u /= 10; } while (u);
  if (n < 0) *out++ = '-';
  while (k) *out++ = digits[--k];
  return out;
}

static char *put_str(char *out, const char *s) {
  while (*s) *out++ = *s++;
  return out;
}

// A pool worker: answers every "job" (a JSON number n) to its sender with a "result"
// {"n": n, "square": n*n}, until "stop" or CANCEL; returns how many jobs it did.
EXPORT("square_worker") int32_t square_worker(void) {
  int32_t done = 0;
  char reply[96];
  for (;;) {
    wippy_receive(-1);
    read_current();
    if (is("stop") || is("@cancel")) return done;
    if (!is("job")) continue;
    long long n = strtoll(data, 0, 10);
    char *end = put_str(reply, "{\"n\":");
    end = put_int(end, n);
    end = put_str(end, ",\"square\":");
    end = put_int(end, n * n);
    end = put_str(end, "}");
    int32_t len = (int32_t)(end - reply);
    while (wippy_send(from, strlen(from), "result", 6, WIPPY_JSON, reply, len) == WIPPY_OVERLOADED)
      wippy_receive(0);
    done++;
  }
}
