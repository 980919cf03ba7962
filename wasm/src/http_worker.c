// The `http_worker` example: GET $API_URL (http://host[:port]/path) with wasi:http and
// return the body, or an error that says which step failed. Every blocking step
// (waiting for the response, reading the body) parks only this process.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_worker.h"

static bool fail(http_worker_string_t *err, const char *what) {
  http_worker_string_dup(err, what);
  return false;
}

bool exports_http_worker_run(http_worker_string_t *ret, http_worker_string_t *err) {
  const char *url = getenv("API_URL");
  if (!url) return fail(err, "API_URL is not set");
  if (strncmp(url, "http://", 7) != 0) return fail(err, "API_URL must start with http://");
  const char *authority = url + 7;
  const char *path = strchr(authority, '/');
  if (!path) path = "/";
  size_t authority_len = (size_t)(strchr(authority, '/') ? (size_t)(path - authority) : strlen(authority));

  wasi_http_types_own_fields_t headers = wasi_http_types_constructor_fields();
  wasi_http_types_own_outgoing_request_t req = wasi_http_types_constructor_outgoing_request(headers);
  wasi_http_types_borrow_outgoing_request_t r = wasi_http_types_borrow_outgoing_request(req);
  wasi_http_types_method_t get = {.tag = WASI_HTTP_TYPES_METHOD_GET};
  wasi_http_types_scheme_t scheme = {.tag = WASI_HTTP_TYPES_SCHEME_HTTP};
  http_worker_string_t auth, p;
  http_worker_string_dup_n(&auth, authority, authority_len);
  http_worker_string_dup(&p, path);
  if (!wasi_http_types_method_outgoing_request_set_method(r, &get) ||
      !wasi_http_types_method_outgoing_request_set_scheme(r, &scheme) ||
      !wasi_http_types_method_outgoing_request_set_authority(r, &auth) ||
      !wasi_http_types_method_outgoing_request_set_path_with_query(r, &p))
    return fail(err, "cannot build the request");

  wasi_http_outgoing_handler_own_future_incoming_response_t future;
  wasi_http_outgoing_handler_error_code_t code;
  if (!wasi_http_outgoing_handler_handle(req, NULL, &future, &code))
    return fail(err, "the request was refused");

  wasi_http_types_borrow_future_incoming_response_t f = wasi_http_types_borrow_future_incoming_response(future);
  wasi_http_types_own_pollable_t ready = wasi_http_types_method_future_incoming_response_subscribe(f);
  wasi_io_poll_method_pollable_block(wasi_io_poll_borrow_pollable(ready));
  wasi_io_poll_pollable_drop_own(ready);
  wasi_http_types_result_result_own_incoming_response_error_code_void_t got;
  if (!wasi_http_types_method_future_incoming_response_get(f, &got) || got.is_err || got.val.ok.is_err)
    return fail(err, "the request failed");
  wasi_http_types_own_incoming_response_t resp = got.val.ok.val.ok;
  wasi_http_types_future_incoming_response_drop_own(future);

  wasi_http_types_borrow_incoming_response_t rb = wasi_http_types_borrow_incoming_response(resp);
  unsigned status = wasi_http_types_method_incoming_response_status(rb);
  wasi_http_types_own_incoming_body_t body;
  if (!wasi_http_types_method_incoming_response_consume(rb, &body)) return fail(err, "no body");
  wasi_http_types_own_input_stream_t stream;
  if (!wasi_http_types_method_incoming_body_stream(wasi_http_types_borrow_incoming_body(body), &stream))
    return fail(err, "no body stream");

  size_t len = 0, cap = 1024;
  char *text = malloc(cap);
  for (;;) {
    http_worker_list_u8_t chunk;
    wasi_io_streams_stream_error_t serr;
    if (!wasi_io_streams_method_input_stream_blocking_read(wasi_io_streams_borrow_input_stream(stream), 65536, &chunk, &serr))
      break;  // closed: the whole body has been read
    while (len + chunk.len > cap) text = realloc(text, cap *= 2);
    memcpy(text + len, chunk.ptr, chunk.len);
    len += chunk.len;
    http_worker_list_u8_free(&chunk);
  }
  wasi_io_streams_input_stream_drop_own(stream);
  wasi_http_types_incoming_body_drop_own(body);
  wasi_http_types_incoming_response_drop_own(resp);
  if (status != 200) {
    char msg[64];
    snprintf(msg, sizeof msg, "HTTP status %u", status);
    free(text);
    return fail(err, msg);
  }
  http_worker_string_dup_n(ret, text, len);
  free(text);
  return true;
}
