#ifndef SECURECHAT_CSODIUM_SHIM_H
#define SECURECHAT_CSODIUM_SHIM_H
#include <sodium/core.h>
#include <sodium/randombytes.h>
#include <sodium/utils.h>
#endif
