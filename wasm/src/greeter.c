// The `greet` command: greet(name) returns "Hello, <name>!" (a component export).
#include <stdlib.h>
#include <string.h>
#include "greeter.h"

void exports_greeter_greet(greeter_string_t *name, greeter_string_t *ret) {
    static const char prefix[] = "Hello, ";
    size_t n = sizeof prefix - 1;
    size_t len = n + name->len + 1;
    uint8_t *out = malloc(len);
    memcpy(out, prefix, n);
    memcpy(out + n, name->ptr, name->len);
    out[len - 1] = '!';
    ret->ptr = out;
    ret->len = len;
    greeter_string_free(name);
}
