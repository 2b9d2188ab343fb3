import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// The plain-text side of delivery receipts (docs/PROTOCOL.md §6.5): message numbers as decimal
/// lines, the way `sc-open -s --receipts-to` writes them and `sc-seal -s --receipts-from` reads
/// them, and the way `sc-open -s --delivered` reports the peer's receipts.

/// `sc-seal -s --receipts-from FILE`: the numbers of the messages this side has shown, one
/// decimal line each, in order 0, 1, 2, … Opened without blocking (a fifo whose writer has not
/// opened it yet does not hold sc-seal up) and read only when poll(2) says it is readable, or,
/// at the end of the message input, for what is waiting right then.
final class ReceiptInput {
  let fd: FileDescriptor
  let path: String
  /// The input has ended (its writer closed it): no receipts come any more.
  private(set) var ended = false
  /// The message number the next line must hold.
  private(set) var next: UInt64 = 0
  private var line: [UInt8] = []
  private var lineNumber = 1
  private var buffer = [UInt8](repeating: 0, count: 1 << 14)
  /// Enough for the largest u64 (20 digits): a longer line is refused before it is all read.
  static let maxLineLength = 20

  init(path: String) throws {
    guard path != "-" else {
      throw ToolError.usage("--receipts-from cannot be standard input: the messages come from there")
    }
    let raw = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
    guard raw >= 0 else { throw ToolError.system("cannot open the receipts input \(path)") }
    fd = FileDescriptor(rawValue: raw)
    self.path = path
    var info = stat()
    if fstat(raw, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR {
      throw ToolError("the receipts input \(path) is a directory")
    }
  }

  /// Reads what is there now, without waiting, and calls `receipt` with each complete line's
  /// number. A line that is not the next message number is an error (status 2: a local fault,
  /// not something the peer did).
  func drain(_ receipt: (UInt64) throws -> Void) throws {
    while !ended {
      let n = buffer.withUnsafeMutableBytes { Glibc.read(fd.rawValue, $0.baseAddress, $0.count) }
      if n < 0 {
        if errno == EINTR { continue }
        if errno == EAGAIN || errno == EWOULDBLOCK { return }
        throw ToolError.system("cannot read the receipts input \(path)")
      }
      if n == 0 {
        // No writer (any more). A fifo nobody has opened yet reads the same way; it is read
        // here only at the end of the messages, when nothing more is awaited from it anyway.
        ended = true
        guard line.isEmpty else { throw invalid("ends in the middle of a line") }
        return
      }
      for byte in buffer[0..<n] {
        if byte == UInt8(ascii: "\n") {
          try receipt(try number())
          line.removeAll(keepingCapacity: true)
          lineNumber += 1
        } else {
          guard line.count < Self.maxLineLength else { throw invalid("is not a decimal message number") }
          line.append(byte)
        }
      }
    }
  }

  /// The number on the current line, which must be the next one.
  private func number() throws -> UInt64 {
    guard !line.isEmpty, line.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), line.count == 1 || line[0] != 0x30 else {
      throw invalid("is not a decimal message number")
    }
    var value: UInt64 = 0
    for digit in line {
      let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
      let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit - 0x30))
      guard !overflow1 && !overflow2 else { throw invalid("is not a decimal message number") }
      value = sum
    }
    guard value == next else {
      throw invalid(
        "acknowledges message \(value), but \(next) is next: receipts go 0, 1, 2 and so on, once each, in order")
    }
    next += 1
    return value
  }

  private func invalid(_ what: String) -> ToolError {
    ToolError(
      "line \(lineNumber) of the receipts input \(path) \(what)",
      hints: ["give --receipts-from what sc-open -s --receipts-to writes"])
  }
}

/// `sc-open -s --receipts-to FILE` and `--delivered FILE`: message numbers as decimal lines,
/// collected while frames are verified and written by `flush()`.
///
/// Writing never holds up the messages: FILE is opened and written without blocking. A fifo (named
/// as the descriptor the shell opened, /dev/fd/N) that has no reader yet (or any more) is opened
/// for reading and writing, so that the numbers
/// wait in it for a reader that comes later (this side's sc-seal may start after sc-open, or have
/// ended already); numbers a reader has not taken yet wait in memory, up to `maxPending`.
final class NumberLines {
  let path: String
  private var fd: FileDescriptor?
  private var pending: [UInt8] = []
  /// Numbers no reader has taken: beyond this, no more are written (about 100,000 lines).
  static let maxPending = 1 << 20

  /// Opens `path` for writing. A descriptor the shell opened (/dev/fd/N, /dev/stdout…) is opened
  /// again through its path and written at its end: it may be a file that other output goes to
  /// as well (`--delivered /dev/fd/3 3>>log`), or a fifo (`3<>FIFO`). Anything else follows
  /// OutputTarget's rules: a new file is created 0600, a private file of the user's is emptied, a
  /// fifo named by its path, a symbolic link or a file of another user is refused.
  init(path: String, option: String) throws {
    guard path != "-" else { throw ToolError.usage("\(option) cannot be standard output: the messages go there") }
    self.path = path
    guard OutputTarget.descriptorNumber(path) != nil else {
      fd = try OutputTarget.openInPlace(path, what: "\(option) file", flags: O_WRONLY | O_NONBLOCK, truncate: true)
      return
    }
    var raw = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_APPEND)
    if raw < 0 && errno == ENXIO {
      // A fifo nobody reads: open it both ways, which does not wait (Linux, fifo(7)).
      raw = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
    }
    guard raw >= 0 else { throw ToolError.system("cannot open \(path) for \(option)") }
    fd = FileDescriptor(rawValue: raw)
    var info = stat()
    if fstat(raw, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR {
      throw ToolError("\(path) for \(option) is a directory")
    }
  }

  func append(_ number: UInt64) {
    guard fd != nil else { return }
    var digits: [UInt8] = []
    var rest = number
    repeat {
      digits.append(UInt8(ascii: "0") + UInt8(rest % 10))
      rest /= 10
    } while rest > 0
    pending += digits.reversed()
    pending.append(UInt8(ascii: "\n"))
  }

  /// Writes what the reader takes now. If the reader has gone (EPIPE), nothing more is written,
  /// and that is not an error: for --receipts-to it means that this side's sc-seal has ended its
  /// direction. `wait`: at the end, give a reader that is still reading up to a second more.
  func flush(wait: Bool = false) throws {
    guard let fd else {
      pending.removeAll()
      return
    }
    var offset = 0
    defer { pending.removeFirst(offset) }
    while offset < pending.count {
      let n = pending.withUnsafeBytes { Glibc.write(fd.rawValue, $0.baseAddress! + offset, $0.count - offset) }
      if n >= 0 {
        offset += n
        continue
      }
      switch errno {
      case EINTR:
        continue
      case EAGAIN, EWOULDBLOCK:
        var descriptor = pollfd(fd: fd.rawValue, events: Int16(POLLOUT), revents: 0)
        if wait && poll(&descriptor, 1, 1000) > 0 { continue }
        if pending.count - offset > Self.maxPending || wait { close() }
        return
      case EPIPE:
        close()
        return
      default:
        throw ToolError.system("cannot write \(path)")
      }
    }
  }

  private func close() {
    fd?.close()
    fd = nil
  }
}
