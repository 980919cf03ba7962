// A component that uses wippy:actor/process (wasm/wit/actor/actor.wit) through the C
// bindings wit-bindgen generates for the `actor-guest` world.
#include <string.h>
#include "actor_guest.h"

// Receives one message and sends it back to its sender with the same topic and
// payloads; returns the payload count.
uint32_t exports_actor_guest_echo(void) {
  wippy_actor_process_message_t m;
  for (;;) {
    wippy_actor_process_receive(&m);
    if (m.topic.len > 0 && m.topic.ptr[0] != '@') break;
    wippy_actor_process_message_free(&m);
  }
  wippy_actor_process_error_t err;
  uint32_t count = (uint32_t)m.payloads.len;
  if (!wippy_actor_process_send(&m.from, &m.topic, &m.payloads, &err)) count = 1000 + err;
  wippy_actor_process_message_free(&m);
  return count;
}

// Waits for the inbox through a wasi:io pollable (`subscribe`), then takes the message
// without waiting (`try-receive`); returns its topic.
void exports_actor_guest_wait_topic(actor_guest_string_t *ret) {
  wippy_actor_process_own_pollable_t ready = wippy_actor_process_subscribe();
  wasi_io_poll_borrow_pollable_t borrowed = wasi_io_poll_borrow_pollable(ready);
  wasi_io_poll_list_borrow_pollable_t list = {&borrowed, 1};
  actor_guest_list_u32_t which;
  wasi_io_poll_poll(&list, &which);
  actor_guest_list_u32_free(&which);
  wasi_io_poll_pollable_drop_own(ready);
  wippy_actor_process_message_t m;
  if (!wippy_actor_process_try_receive(&m)) {
    actor_guest_string_dup(ret, "nothing");
    return;
  }
  actor_guest_string_dup_n(ret, (const char *)m.topic.ptr, m.topic.len);
  wippy_actor_process_message_free(&m);
}
