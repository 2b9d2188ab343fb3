import CProcess

#if canImport(Glibc)
  import Glibc
#endif

/// What every tool does first, before it reads a secret: nothing of its memory may leave the
/// process through a core dump or a crash report.
public enum ProcessHardening {
  /// The signals on which the Swift runtime's backtracer (on by default where it finds
  /// swift-backtrace, as in debug builds) prints a backtrace with the registers and 16 bytes of
  /// the memory each one points to (a key, if a register points into one), and, for one sent
  /// with kill(2), lets the process run on.
  static let crashSignals = [SIGQUIT, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGTRAP]
  /// Of those, the ones AddressSanitizer handles (to report a wild access), in test builds.
  static let sanitizerSignals = [SIGBUS, SIGFPE, SIGSEGV]

  /// Core dumps off (core file size limit 0, soft and hard, and the process non-dumpable: see
  /// CProcess/shim.h), and the crash signals back to their default action, which then ends the
  /// process without a core. Under AddressSanitizer its own handlers stay: they print no memory.
  public static func apply() {
    precondition(securechat_disable_core_dumps() == 1, "cannot turn core dumps off")
    let sanitized = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil
    for signalNumber in crashSignals where !(sanitized && sanitizerSignals.contains(signalNumber)) {
      signal(signalNumber, SIG_DFL)
    }
  }
}
