#ifndef SECURECHAT_CPROCESS_SHIM_H
#define SECURECHAT_CPROCESS_SHIM_H
/* Process-wide settings from the C library that Swift cannot call directly (prctl(2) is
   variadic). Header only: nothing to link. Only SecureChatCrypto imports this module. */
#include <sys/prctl.h>
#include <sys/resource.h>

/* No core dump, ever, of a process that holds secrets: the core file size limit goes to 0 (soft
   and hard, so that no child can raise it again), and the process is made non-dumpable, which
   also covers a core_pattern that pipes cores to a program (RLIMIT_CORE does not stop those)
   and keeps other processes of the same user from reading its memory through ptrace(2) or
   /proc/PID/mem. Returns 1 if both took effect. */
static inline int securechat_disable_core_dumps(void) {
  struct rlimit none = {0, 0};
  int limited = setrlimit(RLIMIT_CORE, &none) == 0;
  int undumpable = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0;
  return limited && undumpable;
}
#endif
