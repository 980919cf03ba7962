// A reactor whose `nap(ms)` sleeps through WASI and returns how long it slept, in
// nanoseconds of the monotonic clock the host gives it. Built twice: as a preview-1
// module, and (through the adapter) as a preview-2 component.
#include <stdint.h>
#include <time.h>

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

#ifndef SLEEPER_COMPONENT
__attribute__((export_name("nap")))
#endif
uint64_t nap(uint32_t ms) {
  uint64_t start = now_ns();
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, 0);
  return now_ns() - start;
}

// Sleeps `ms` and returns the monotonic time it woke at: processes that slept together
// on one worker wake at the same (virtual) instant.
#ifndef SLEEPER_COMPONENT
__attribute__((export_name("wake_at")))
uint64_t wake_at(uint32_t ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, 0);
  return now_ns();
}
#endif
