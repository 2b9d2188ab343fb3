#if canImport(Glibc)
  import Glibc
#endif

/// A thin, copyable handle on a POSIX file descriptor with the loops that read(2) and
/// write(2) need (EINTR, short counts).
public struct FileDescriptor: Sendable, Equatable {
  public let rawValue: Int32

  public init(rawValue: Int32) { self.rawValue = rawValue }

  public static let standardInput = FileDescriptor(rawValue: 0)
  public static let standardOutput = FileDescriptor(rawValue: 1)
  public static let standardError = FileDescriptor(rawValue: 2)

  public var isTerminal: Bool { isatty(rawValue) == 1 }

  /// One read(2), retried on EINTR. Returns 0 at end of input.
  public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    while true {
      let n = Glibc.read(rawValue, buffer.baseAddress, buffer.count)
      if n >= 0 { return n }
      if errno != EINTR { throw ToolError.system("read failed") }
    }
  }

  /// One read(2) from the connection to the peer: a connection reset by the peer (ECONNRESET)
  /// ends the stream like a close does (0), after everything that arrived before it was read;
  /// the reader then reports the stream as cut (docs/PROTOCOL.md §3.5, §6.3), not as an I/O error.
  public func readFromPeer(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    while true {
      let n = Glibc.read(rawValue, buffer.baseAddress, buffer.count)
      if n >= 0 { return n }
      if errno == ECONNRESET { return 0 }
      if errno != EINTR { throw ToolError.system("read failed") }
    }
  }

  /// Reads until `buffer` is full or the input ends; returns the count read.
  public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    var total = 0
    while total < buffer.count {
      let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
      if n == 0 { break }
      total += n
    }
    return total
  }

  public func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
    var offset = 0
    while offset < bytes.count {
      let n = Glibc.write(rawValue, bytes.baseAddress! + offset, bytes.count - offset)
      if n < 0 {
        if errno == EINTR { continue }
        throw ToolError.system("write failed")
      }
      offset += n
    }
  }

  public func writeAll(_ bytes: [UInt8]) throws {
    try bytes.withUnsafeBytes { try writeAll($0) }
  }

  public func close() { _ = Glibc.close(rawValue) }
}

/// Standard input, output and error as the tool found them. A tool started with one of them
/// closed (`<&-`, `>&-`) would give that number to the next file it opens: a log file would be
/// read as the plaintext to send, or receive the messages meant for standard output. So every
/// tool first puts /dev/null on each closed one, and refuses to use a closed one for data.
public enum StandardDescriptors {
  nonisolated(unsafe) private static var closedAtStart: Set<Int32> = []

  /// Called once, first thing, by `runTool`.
  public static func reserve() {
    for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
      // The lowest free number: this one, since the lower ones are open by now.
      let opened = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY)
      if opened == fd { closedAtStart.insert(fd) } else if opened >= 0 { Glibc.close(opened) }
    }
  }

  /// Throws "standard input is closed" (or output) if the tool was started with it closed.
  public static func requireOpen(_ fd: FileDescriptor) throws {
    guard closedAtStart.contains(fd.rawValue) else { return }
    throw ToolError(fd == .standardInput ? "standard input is closed" : "standard output is closed")
  }
}
