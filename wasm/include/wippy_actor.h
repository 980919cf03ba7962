/*
 * wippy_actor.h: the actor interface of wippy-wasm for preview-1 core modules (SPEC §9).
 *
 * A module imports these functions from the wasm module "wippy_actor"; its registry entry
 * must list `wippy:actor` in `imports`. Strings are pointer + length (not NUL-terminated)
 * in the guest's memory. Functions that write into a buffer (`out`, `cap`) return the
 * full length of what they have to write; if that is more than `cap`, nothing was written
 * and the caller can retry with a bigger buffer. Negative results are the errors below.
 *
 * Messages: `wippy_receive` / `wippy_try_receive` take the next event or message and make
 * it the current one; read it with `wippy_message_*`. Lifecycle events arrive as messages
 * with reserved topics (`@exit`, `@link-down`, `@cancel`) and a JSON payload
 * {"from": pid, "result": {"value": ..., "error": ...}}. Guests cannot send `@` topics.
 *
 * Limits: topic 1-256 bytes of UTF-8, a PID or name at most 1024 bytes, a payload at most
 * 1 MiB; the receiver's mailbox holds `host.mailbox_size` messages.
 */
#ifndef WIPPY_ACTOR_H
#define WIPPY_ACTOR_H

#include <stdint.h>

#define WIPPY_IMPORT(name) __attribute__((import_module("wippy_actor"), import_name(name)))

/* Errors. */
#define WIPPY_CLOSED              (-1) /* the target has ended or cannot receive */
#define WIPPY_OVERLOADED          (-2) /* its mailbox is full: retry later */
#define WIPPY_TOO_LARGE           (-3) /* a payload or argument over its limit */
#define WIPPY_INVALID_MESSAGE     (-4) /* bad topic, text not UTF-8, JSON that does not parse */
#define WIPPY_INVALID_TARGET      (-5) /* not a PID, a registered name, an entry or a host */
#define WIPPY_UNSUPPORTED_PAYLOAD (-6) /* a format other than the three below */
#define WIPPY_NAME_TAKEN          (-7) /* the name belongs to another process */
#define WIPPY_FAULT               (-8) /* a pointer and length outside this module's memory */
#define WIPPY_NO_MESSAGE          (-9) /* no current message: receive first */

/* Payload formats. */
#define WIPPY_BYTES 0
#define WIPPY_TEXT  1
#define WIPPY_JSON  2

/* How `wippy_spawn` watches the new process. */
#define WIPPY_SPAWN          0
#define WIPPY_SPAWN_MONITORED 1 /* an @exit message when it ends */
#define WIPPY_SPAWN_LINKED   2 /* an @link-down message if it fails (and it, if we do) */

/* This process's PID, e.g. "{app:processes|7}". */
WIPPY_IMPORT("self") int32_t wippy_self(char *out, uint32_t cap);

/* Sends one payload to `target` (a PID or a registered name). 0 or an error. */
WIPPY_IMPORT("send")
int32_t wippy_send(const char *target, uint32_t target_len, const char *topic,
                   uint32_t topic_len, uint32_t format, const void *data, uint32_t data_len);

/* Takes the next event or message: 1 if there is one, 0 if not. Never waits. */
WIPPY_IMPORT("try_receive") int32_t wippy_try_receive(void);

/* Waits up to `timeout_ms` (negative: forever) for the next event or message: 1 when one
 * came, 0 when the time passed. Only this process waits; termination still ends it. */
WIPPY_IMPORT("receive") int32_t wippy_receive(int64_t timeout_ms);

/* The current message: its format (WIPPY_BYTES, WIPPY_TEXT, WIPPY_JSON), sender (empty
 * when the embedding program sent it), topic and data. */
WIPPY_IMPORT("message_format") int32_t wippy_message_format(void);
WIPPY_IMPORT("message_from") int32_t wippy_message_from(char *out, uint32_t cap);
WIPPY_IMPORT("message_topic") int32_t wippy_message_topic(char *out, uint32_t cap);
WIPPY_IMPORT("message_data") int32_t wippy_message_data(void *out, uint32_t cap);

/* Starts a process of `entry` on `host` with `args_json` (a JSON array, or empty for
 * none); writes its PID to `out`. `watch` is one of the WIPPY_SPAWN* values. */
WIPPY_IMPORT("spawn")
int32_t wippy_spawn(const char *entry, uint32_t entry_len, const char *host, uint32_t host_len,
                    const char *args_json, uint32_t args_len, uint32_t watch, char *out,
                    uint32_t cap);

/* Watch, unwatch, link, unlink or terminate a process (a PID or a name): 0 or an error. */
WIPPY_IMPORT("monitor") int32_t wippy_monitor(const char *pid, uint32_t len);
WIPPY_IMPORT("unmonitor") int32_t wippy_unmonitor(const char *pid, uint32_t len);
WIPPY_IMPORT("link") int32_t wippy_link(const char *pid, uint32_t len);
WIPPY_IMPORT("unlink") int32_t wippy_unlink(const char *pid, uint32_t len);
WIPPY_IMPORT("terminate") int32_t wippy_terminate(const char *pid, uint32_t len);

/* Names: register this process under `name` (released when it ends); look one up. */
WIPPY_IMPORT("register") int32_t wippy_register(const char *name, uint32_t len);
WIPPY_IMPORT("lookup")
int32_t wippy_lookup(const char *name, uint32_t len, char *out, uint32_t cap);

#endif
