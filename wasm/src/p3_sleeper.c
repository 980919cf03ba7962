// A WASI 0.3 (preview 3) command, using component-model async: `run` is an async export,
// and it sleeps through `wait-for`, an async import, several at once.
//
// Each argument is a number of milliseconds. `run` starts one `wait-for` per argument, all
// at once, waits until every one has returned, and returns ok if the time that passed is
// the longest wait and (when the waits overlap at all) less than their sum: they ran
// concurrently.
// It returns err for an argument that is not a number, or when the time is not right.
// The argument `forever` waits the longest duration there is (2^64 - 1 ns): a hostile
// value for the host's timers, which must park the process, not overflow.
#include <stdlib.h>

#include "p3_sleeper.h"

static p3_sleeper_waitable_set_t waiting;
static uint32_t pending;
static uint64_t started, longest, sum;

static p3_sleeper_callback_code_t finish(bool ok) {
  exports_wasi_cli_run_result_void_void_t result = {.is_err = !ok};
  exports_wasi_cli_run_run_return(result);
  p3_sleeper_waitable_set_drop(waiting);
  return P3_SLEEPER_CALLBACK_CODE_EXIT;
}

static p3_sleeper_callback_code_t check(void) {
  uint64_t elapsed = wasi_clocks_monotonic_clock_now() - started;
  bool ok = elapsed >= longest && (sum == longest || elapsed < sum);
  return finish(ok);
}

static bool is_forever(p3_sleeper_string_t s) {
  return s.len == 7 && __builtin_memcmp(s.ptr, "forever", 7) == 0;
}

// Milliseconds in a WIT string (not NUL-terminated); -1 if it is not a number.
static int64_t parse_ms(p3_sleeper_string_t s) {
  if (s.len == 0 || s.len > 9) return -1;
  int64_t ms = 0;
  for (size_t i = 0; i < s.len; i++) {
    if (s.ptr[i] < '0' || s.ptr[i] > '9') return -1;
    ms = ms * 10 + (s.ptr[i] - '0');
  }
  return ms;
}

p3_sleeper_callback_code_t exports_wasi_cli_run_run(void) {
  p3_sleeper_list_string_t args;
  wasi_cli_environment_get_arguments(&args);
  waiting = p3_sleeper_waitable_set_new();
  // Every argument is checked before any wait starts: a task must not end with waits
  // still running. args.ptr[0] is the program's name.
  for (size_t i = 1; i < args.len; i++) {
    if (!is_forever(args.ptr[i]) && parse_ms(args.ptr[i]) < 0) {
      p3_sleeper_list_string_free(&args);
      return finish(false);
    }
  }
  started = wasi_clocks_monotonic_clock_now();
  for (size_t i = 1; i < args.len; i++) {
    uint64_t ns = is_forever(args.ptr[i]) ? UINT64_MAX : (uint64_t)parse_ms(args.ptr[i]) * 1000000;
    if (ns > longest) longest = ns;
    sum += ns;
    p3_sleeper_subtask_status_t status = wasi_clocks_monotonic_clock_wait_for(ns);
    if (P3_SLEEPER_SUBTASK_STATE(status) == P3_SLEEPER_SUBTASK_RETURNED) continue;
    p3_sleeper_waitable_join(P3_SLEEPER_SUBTASK_HANDLE(status), waiting);
    pending++;
  }
  p3_sleeper_list_string_free(&args);
  if (pending == 0) return check();
  return P3_SLEEPER_CALLBACK_CODE_WAIT(waiting);
}

p3_sleeper_callback_code_t exports_wasi_cli_run_run_callback(p3_sleeper_event_t *event) {
  if (event->event == P3_SLEEPER_EVENT_SUBTASK && event->code == P3_SLEEPER_SUBTASK_RETURNED) {
    p3_sleeper_waitable_join(event->waitable, 0);
    p3_sleeper_subtask_drop(event->waitable);
    pending--;
  }
  if (pending == 0) return check();
  return P3_SLEEPER_CALLBACK_CODE_WAIT(waiting);
}
