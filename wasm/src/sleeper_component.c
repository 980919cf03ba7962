// The preview-2 build of sleeper.c: the component export calls the same `nap`.
#define SLEEPER_COMPONENT
#include "sleeper.c"
#include "sleeper.h"

uint64_t exports_sleeper_nap(uint32_t ms) { return nap(ms); }
