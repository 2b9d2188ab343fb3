#if canImport(Glibc)
  import Glibc
#endif

/// Reads exact byte counts from the peer with a deadline. It never asks read(2) for more than the
/// current message still needs, so nothing past the handshake is taken from the stream.
struct PeerReader {
  let fd: FileDescriptor
  /// CLOCK_MONOTONIC milliseconds at which waiting stops.
  let deadline: Int64
  let timeoutSeconds: Int

  enum ReadResult {
    case complete([UInt8])
    /// The stream ended after `received` bytes of the `count` asked for.
    case ended(received: Int)
  }

  func readExactly(_ count: Int) throws -> ReadResult {
    var bytes = [UInt8](repeating: 0, count: count)
    var received = 0
    while received < count {
      try waitUntilReadable()
      let n: Int
      do {
        n = try bytes.withUnsafeMutableBytes {
          try fd.readFromPeer(into: UnsafeMutableRawBufferPointer(rebasing: $0[received..<count]))
        }
      } catch let error as ToolError {
        throw error.naming("the connection to the peer (standard input)", writes: false)
      }
      if n == 0 { return .ended(received: received) }
      received += n
    }
    return .complete(bytes)
  }

  /// True if the peer has sent bytes not read yet, or closed the stream: a read would not block.
  var hasInputWaiting: Bool {
    var descriptor = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
    return poll(&descriptor, 1, 0) > 0
  }

  private func waitUntilReadable() throws {
    while true {
      let remaining = deadline - monotonicMilliseconds()
      guard remaining > 0 else {
        throw ToolError("timed out after \(timeoutSeconds) s waiting for the peer", hints: ["raise it with --timeout"])
      }
      var descriptor = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
      let ready = poll(&descriptor, 1, Int32(min(remaining, Int64(Int32.max))))
      if ready > 0 { return }
      if ready < 0 && errno != EINTR { throw ToolError.system("cannot wait for the peer") }
    }
  }
}

func monotonicMilliseconds() -> Int64 {
  var now = timespec()
  clock_gettime(CLOCK_MONOTONIC, &now)
  return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

/// Writes to the peer: a closed connection is "the peer is gone" (exit 2), not a SIGPIPE death.
func ignoreBrokenPipeSignal() {
  signal(SIGPIPE, SIG_IGN)
}
