// A WASI 0.3 (preview 3) command that makes a TCP socket and binds it to 127.0.0.1 on a
// free port. `run` returns ok when the bind succeeded and err when anything refused it:
// with the host's network the bind succeeds; without it the socket is made and the bind
// is refused (access denied).
#include "p3_net.h"

static p3_net_callback_code_t finish(bool ok) {
  exports_wasi_cli_run_result_void_void_t result = {.is_err = !ok};
  exports_wasi_cli_run_run_return(result);
  return P3_NET_CALLBACK_CODE_EXIT;
}

p3_net_callback_code_t exports_wasi_cli_run_run(void) {
  wasi_sockets_types_own_tcp_socket_t socket;
  wasi_sockets_types_error_code_t err;
  if (!wasi_sockets_types_static_tcp_socket_create(WASI_SOCKETS_TYPES_IP_ADDRESS_FAMILY_IPV4,
                                                   &socket, &err)) {
    return finish(false);
  }
  wasi_sockets_types_ip_socket_address_t local = {
      .tag = WASI_SOCKETS_TYPES_IP_SOCKET_ADDRESS_IPV4,
      .val.ipv4 = {.port = 0, .address = {127, 0, 0, 1}},
  };
  bool bound = wasi_sockets_types_method_tcp_socket_bind(
      wasi_sockets_types_borrow_tcp_socket(socket), &local, &err);
  wasi_sockets_types_tcp_socket_drop_own(socket);
  return finish(bound);
}

p3_net_callback_code_t exports_wasi_cli_run_run_callback(p3_net_event_t *event) {
  (void)event;
  return P3_NET_CALLBACK_CODE_EXIT;
}
