#if canImport(Glibc)
  import Glibc
#endif

/// Where a tool's data goes, so that a failure never leaves partial output behind and an output
/// never follows an attacker (DESIGN.md, "Secrets and outputs"; the checks are OutputTarget's):
/// - a regular file of the user's (or a path that does not exist yet) is written to a temporary
///   file in the same directory, created 0600 by mkstemp(3), and renamed into place only by
///   `commit()`; a rename replaces the name, it never writes into a file or through a link;
/// - standard output and a descriptor the user named (`-`, /dev/stdout, /dev/fd/N) are written
///   directly, on a duplicate of the descriptor (its offset and O_APPEND are the shell's), and so is
///   a device of root's or of the user's named by its path (/dev/null, /dev/full);
/// - a symbolic link, a fifo or socket named by its path, and a file of another user are refused;
///   a secret output (`mode` without group or other access) also refuses to replace a file that
///   others may read or write, with the hint key files get.
public final class OutputFile {
  public let fd: FileDescriptor
  public let displayName: String
  /// Set while a temporary file exists; the signal handler removes it too.
  private var temporaryPath: [CChar]?
  private var finalPath: String?

  /// `path` nil or "-" means standard output. `mode` applies to a newly created regular file.
  /// `what` names the output in messages.
  public init(path: String?, mode: mode_t, what: String = "output") throws {
    guard let path, path != "-" else {
      fd = .standardOutput
      displayName = "standard output"
      return
    }
    displayName = path
    let target = try OutputTarget(checking: path, what: what)
    if let direct = try target.openDescriptorOrDevice(path, what: what) {
      fd = direct
      return
    }
    if case .existingFile(let info) = target, mode & 0o066 == 0 {
      try OutputTarget.requirePrivate(info, path: path, what: what)
    }
    let directory: String
    let base: String
    if let slash = path.lastIndex(of: "/") {
      directory = slash == path.startIndex ? "/" : String(path[..<slash])
      base = String(path[path.index(after: slash)...])
    } else {
      directory = "."
      base = path
    }
    var template = Array("\(directory)/.\(base).XXXXXX".utf8CString)
    // mkstemp(3): O_CREAT|O_EXCL, mode 0600 from the start.
    let raw = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard raw >= 0 else { throw ToolError.system("cannot create \(what) in \(directory)") }
    _ = fcntl(raw, F_SETFD, FD_CLOEXEC)
    fd = FileDescriptor(rawValue: raw)
    let mask = umask(0)
    umask(mask)
    fchmod(raw, mode & ~mask)
    temporaryPath = template
    finalPath = path
    PendingOutputCleanup.register(template)
  }

  /// True for a regular file written through a temporary file: nothing written is visible under
  /// its name before `commit()`.
  public var isDeferred: Bool { temporaryPath != nil }

  public func write(_ bytes: UnsafeRawBufferPointer) throws {
    do {
      try fd.writeAll(bytes)
    } catch let error as ToolError {
      throw ToolError("cannot write \(displayName): \(error.message.replacingPrefix("write failed: "))")
    }
  }

  public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

  /// Makes the output visible under its name. Until then a regular file output does not exist.
  public func commit() throws {
    guard let temporaryPath, let finalPath else { return }
    guard fsync(fd.rawValue) == 0 || errno == EINVAL else { throw ToolError.system("cannot write \(displayName)") }
    fd.close()
    let renamed = temporaryPath.withUnsafeBufferPointer { rename($0.baseAddress!, finalPath) }
    guard renamed == 0 else {
      let code = errno
      abandon()
      throw ToolError.system("cannot rename output into place as \(finalPath)", errno: code)
    }
    PendingOutputCleanup.unregister()
    self.temporaryPath = nil
  }

  /// Removes a temporary file; direct outputs are left as they are.
  public func abandon() {
    guard let temporaryPath else { return }
    _ = temporaryPath.withUnsafeBufferPointer { unlink($0.baseAddress!) }
    PendingOutputCleanup.unregister()
    self.temporaryPath = nil
  }

  deinit { abandon() }
}

extension String {
  fileprivate func replacingPrefix(_ prefix: String) -> String {
    hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self
  }
}

/// Removes a pending temporary output when the process is stopped by a signal, so that an
/// interrupted sc-open leaves nothing behind. The path lives in a C buffer: unlink(2) and
/// _exit(2) are the only calls the handler makes, both async-signal-safe.
enum PendingOutputCleanup {
  nonisolated(unsafe) static var path: UnsafeMutablePointer<CChar>? = nil
  nonisolated(unsafe) static var installed = false

  static func register(_ template: [CChar]) {
    let copy = UnsafeMutablePointer<CChar>.allocate(capacity: template.count)
    copy.initialize(from: template, count: template.count)
    path = copy
    if !installed {
      installed = true
      for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] {
        Glibc.signal(signal) { received in
          if let path = PendingOutputCleanup.path { unlink(path) }
          Glibc.signal(received, SIG_DFL)
          raise(received)
        }
      }
    }
  }

  static func unregister() {
    let old = path
    path = nil
    old?.deallocate()
  }
}
