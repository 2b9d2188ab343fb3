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
