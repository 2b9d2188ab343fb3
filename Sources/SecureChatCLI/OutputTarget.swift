#if canImport(Glibc)
  import Glibc
#endif

/// What the path given to an output option leads to, checked before anything is written: the
/// rule of DESIGN.md, "Secrets and outputs", for every file a tool writes (sc-handshake -o,
/// sc-open and sc-seal -o, sc-keygen -o, --log, --receipts-to, --delivered, sc-logcheck --state).
///
/// - `-`, /dev/stdout, /dev/fd/N, /proc/self/fd/N (and /dev/stdin, /dev/stderr) name a descriptor
///   the shell opened: the user chose it, so it may be anything (a pipe, a fifo, a socket, a file).
/// - Any other path is looked at with lstat(2) and never followed if it is a symbolic link. What is
///   there must be nothing yet, a regular file of the effective user, or a character device of
///   root's or of the user's (/dev/null, /dev/full, the user's terminal: nobody else can make
///   one). A fifo, socket or other device named by its path is refused: another local user can
///   put one at a name in /tmp or /dev/shm and read what is written to it.
/// - A new file is created with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600 (or as a temporary file
///   renamed into place, see OutputFile); an existing file is opened with O_NOFOLLOW and checked
///   again with fstat(2) to be the one lstat(2) saw.
/// - An existing file that is kept, appended to or replaced by a secret output must not be
///   readable or writable by group or others (`requirePrivate`), as key files are refused.
enum OutputTarget {
  /// A descriptor this process has: the number of `-` (standard output) or the path's.
  case descriptor(Int32)
  /// A character device of root's or of the effective user's, named by its path.
  case device(stat)
  /// A regular file of the effective user.
  case existingFile(stat)
  /// Nothing is there yet.
  case missing

  /// The descriptor that `path` names (`-` is standard output), or nil for any other path.
  static func descriptorNumber(_ path: String) -> Int32? {
    switch path {
    case "-", "/dev/stdout": return 1
    case "/dev/stdin": return 0
    case "/dev/stderr": return 2
    default: break
    }
    for prefix in ["/dev/fd/", "/proc/self/fd/"] where path.hasPrefix(prefix) {
      let digits = path.dropFirst(prefix.count)
      guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
      return Int32(digits)
    }
    return nil
  }

  /// Looks at `path` without following it. `what` names the output in messages ("output",
  /// "session file", "log"…). Throws for a symbolic link, a directory, a fifo, a socket, a device
  /// that is not root's or the user's, and a file of another user.
  init(checking path: String, what: String) throws {
    if let number = Self.descriptorNumber(path) {
      self = .descriptor(number)
      return
    }
    var info = stat()
    guard lstat(path, &info) == 0 else {
      guard errno == ENOENT else { throw ToolError.system("cannot write \(what) \(path)") }
      self = .missing
      return
    }
    let kind = info.st_mode & S_IFMT
    switch kind {
    case S_IFREG:
      try Self.requireOwner(info, path: path, what: what)
      self = .existingFile(info)
    case S_IFLNK:
      throw ToolError(
        "\(what) \(path) is a symbolic link",
        hints: ["outputs are never written through a symbolic link: name the file itself, or a new one"])
    case S_IFDIR:
      throw ToolError("\(what) \(path) is a directory")
    case S_IFCHR where info.st_uid == 0 || info.st_uid == geteuid():
      self = .device(info)
    default:
      let name =
        kind == S_IFIFO ? "a fifo" : kind == S_IFSOCK ? "a socket" : kind == S_IFBLK ? "a block device" : "a device"
      throw ToolError(
        "\(what) \(path) is \(name), not a regular file",
        hints: ["to write to it, let the shell open it and name the descriptor: /dev/fd/3 with 3>\(path)"])
    }
  }

  private static func requireOwner(_ info: stat, path: String, what: String) throws {
    guard info.st_uid == geteuid() else {
      throw ToolError(
        "\(what) \(path) belongs to another user (uid \(info.st_uid))",
        hints: ["write to a new file in a directory of your own, such as one made by mktemp -d"])
    }
  }

  /// For an existing file that a secret output keeps, appends to or replaces: neither group nor
  /// others may read or write it. The words are those of a key file that others can access.
  static func requirePrivate(_ info: stat, path: String, what: String) throws {
    if info.st_mode & 0o066 != 0 { throw accessibleByOthers(what: what, path: path, mode: info.st_mode) }
  }

  /// "KEYFILE is accessible by others (mode 644)", with the hint that fixes it.
  static func accessibleByOthers(what: String, path: String, mode: mode_t) -> ToolError {
    ToolError(
      "\(what) \(path) is accessible by others (mode \(String(mode & 0o777, radix: 8)))",
      hints: ["restrict it with: chmod 600 \(path)"])
  }

  /// Opens what `init(checking:)` found at `path` (a device or an existing file) without following
  /// a link and without waiting (a fifo put there since would not block the open), then checks
  /// with fstat(2) that it is the same file, of the same type and owner.
  func openChecked(_ path: String, what: String, flags: Int32) throws -> FileDescriptor {
    let expected: stat
    switch self {
    case .device(let info), .existingFile(let info): expected = info
    case .descriptor, .missing: preconditionFailure("openChecked is for a device or an existing file")
    }
    let raw = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
    guard raw >= 0 else {
      if errno == ELOOP || errno == ENXIO { throw Self.replaced(path, what: what) }
      throw ToolError.system("cannot open \(what) \(path)")
    }
    let fd = FileDescriptor(rawValue: raw)
    var info = stat()
    guard fstat(raw, &info) == 0, info.st_dev == expected.st_dev, info.st_ino == expected.st_ino,
      info.st_mode & S_IFMT == expected.st_mode & S_IFMT, info.st_uid == expected.st_uid
    else {
      fd.close()
      throw Self.replaced(path, what: what)
    }
    if flags & O_NONBLOCK == 0 { _ = fcntl(raw, F_SETFL, fcntl(raw, F_GETFL) & ~O_NONBLOCK) }
    return fd
  }

  /// For a descriptor or a device, the descriptor to write to: a duplicate of the one the user
  /// named (so its offset and O_APPEND are the shell's), or the device opened and checked. Nil for
  /// a file, which each output creates or replaces in its own way.
  func openDescriptorOrDevice(_ path: String, what: String) throws -> FileDescriptor? {
    switch self {
    case .descriptor(let number):
      let raw = fcntl(number, F_DUPFD_CLOEXEC, 3)
      guard raw >= 0 else { throw ToolError.system("cannot write \(what) \(path)") }
      return FileDescriptor(rawValue: raw)
    case .device:
      return try openChecked(path, what: what, flags: O_WRONLY)
    case .existingFile, .missing:
      return nil
    }
  }

  private static func replaced(_ path: String, what: String) -> ToolError {
    ToolError("\(what) \(path) was replaced while it was being opened", hints: ["is someone else writing there?"])
  }

  /// Creates a new file at `path`, mode 0600, only if nothing is there (O_EXCL, which also never
  /// follows a link). Nil if something appeared since `init(checking:)` looked.
  static func createNew(_ path: String, what: String, flags: Int32) throws -> FileDescriptor? {
    let raw = open(path, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0o600)
    guard raw >= 0 else {
      if errno == EEXIST { return nil }
      throw ToolError.system("cannot create \(what) \(path)")
    }
    return FileDescriptor(rawValue: raw)
  }

  /// An output written where it is (appended to, or emptied and rewritten) and kept open: a
  /// descriptor named by the user is opened again through its path; a device is opened; an
  /// existing file must be private (`requirePrivate`) and is emptied when `truncate`; a missing
  /// one is created 0600. Another process creating the same file at the same moment (sc-seal and
  /// sc-open of one session both logging) is not an error: its file is then checked and opened.
  static func openInPlace(_ path: String, what: String, flags: Int32, truncate: Bool) throws -> FileDescriptor {
    for _ in 0..<3 {
      let target = try OutputTarget(checking: path, what: what)
      switch target {
      case .descriptor:
        guard path != "-" else { throw ToolError("\(what) cannot be standard output") }
        let raw = open(path, flags | O_CLOEXEC | O_NOCTTY)
        guard raw >= 0 else { throw ToolError.system("cannot open \(what) \(path)") }
        return FileDescriptor(rawValue: raw)
      case .device:
        return try target.openChecked(path, what: what, flags: flags)
      case .existingFile(let info):
        try requirePrivate(info, path: path, what: what)
        let fd = try target.openChecked(path, what: what, flags: flags)
        if truncate && ftruncate(fd.rawValue, 0) != 0 {
          let code = errno
          fd.close()
          throw ToolError.system("cannot empty \(what) \(path)", errno: code)
        }
        return fd
      case .missing:
        if let fd = try createNew(path, what: what, flags: flags) { return fd }
      }
    }
    throw replaced(path, what: what)
  }
}
