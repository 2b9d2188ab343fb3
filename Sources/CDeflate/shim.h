#ifndef SECURECHAT_CDEFLATE_SHIM_H
#define SECURECHAT_CDEFLATE_SHIM_H
#include <libdeflate.h>
#endif
