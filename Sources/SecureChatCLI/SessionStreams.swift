import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// `sc-seal -s`: one frame per line (or per chunk of raw input with `--binary`). Everything read
/// in one read(2) is sealed and written in one write(2): a line typed at a terminal goes out at
/// once, while a stream of lines is batched. End of input sends the final frame.
enum SessionSealing {
  static let readSize = 1 << 18

  static func run(input: FileDescriptor, output: FileDescriptor, session: SessionSecrets, binary: Bool) throws {
    let sealer = try FrameSealer(keys: session.send)
    // Plaintext: zeroed on release. Holds at most one partial line besides what was just read.
    let inputBuffer = SecretBytes(count: readSize + RecordLayer.maxPlaintextCount)
    var frames = [UInt8](repeating: 0, count: framesCapacity(forPlaintext: inputBuffer.count))
    var pending = 0  // bytes of an unfinished line kept at the front of inputBuffer

    while true {
      let n = try inputBuffer.withUnsafeMutableBytes {
        try input.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[pending..<(pending + readSize)]))
      }
      let atEnd = n == 0
      let available = pending + n
      var used = 0
      var produced = 0
      inputBuffer.withUnsafeBytes { data in
        frames.withUnsafeMutableBytes { out in
          func emit(_ start: Int, _ end: Int, isFinal: Bool = false) {
            produced += sealer.seal(
              UnsafeRawBufferPointer(rebasing: data[start..<end]), isFinal: isFinal, into: out.baseAddress! + produced)
          }
          var start = 0
          while start < available {
            let limit = min(available, start + RecordLayer.maxPlaintextCount)
            var end = limit
            if !binary {
              if let newline = data[start..<limit].firstIndex(of: UInt8(ascii: "\n")) {
                end = newline + 1
              } else if limit - start < RecordLayer.maxPlaintextCount && !atEnd {
                break  // an unfinished line: wait for the rest of it
              }
            }
            emit(start, end)
            start = end
          }
          used = start
          if atEnd { emit(0, 0, isFinal: true) }
        }
      }
      if produced > 0 {
        try frames.withUnsafeBytes { try writeToPeer(output, UnsafeRawBufferPointer(rebasing: $0[0..<produced])) }
      }
      if atEnd { return }
      pending = available - used
      if pending > 0 && used > 0 {
        inputBuffer.withUnsafeMutableBytes {
          $0.baseAddress!.copyMemory(from: $0.baseAddress! + used, byteCount: pending)
        }
      }
    }
  }

  /// Room for the frames of `plaintext` bytes cut into the smallest messages (1-byte lines).
  private static func framesCapacity(forPlaintext plaintext: Int) -> Int {
    plaintext * (RecordLayer.frameOverhead + AES256CBC.blockSize) + RecordLayer.maxFrameSize
  }

  static func writeToPeer(_ output: FileDescriptor, _ bytes: UnsafeRawBufferPointer) throws {
    do {
      try output.writeAll(bytes)
    } catch {
      throw ToolError("cannot send to the peer: the connection is closed")
    }
  }
}

/// `sc-open -s`: verifies each frame and writes its message as soon as it is verified; stops at
/// the first frame that fails (exit 1), after writing everything verified before it.
enum SessionOpening {
  static func run(input: FileDescriptor, output: OutputFile, session: SessionSecrets) throws {
    let reader = try SessionStreamReader(session: session)
    let queue = InputQueue(capacity: (1 << 18) + RecordLayer.maxFrameSize, source: input.read)
    let escapeControls = output.fd.isTerminal
    var plaintext = [UInt8]()
    plaintext.reserveCapacity(1 << 18)
    defer { _ = plaintext.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) } }

    func flush() throws {
      guard !plaintext.isEmpty else { return }
      if escapeControls { plaintext = TerminalText.escapingControls(plaintext) }
      try output.write(plaintext)
      _ = plaintext.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
      plaintext.removeAll(keepingCapacity: true)
    }

    do {
      while true {
        switch try reader.next(queue.readable, atEnd: queue.atEnd) {
        case .needMoreInput:
          // Everything verified so far goes out before waiting for more input.
          try flush()
          try queue.fill()
        case .message(let consumed, let message):
          plaintext += message
          queue.consume(consumed)
        case .finished(let consumed, let message):
          plaintext += message
          queue.consume(consumed)
          // The session is over: bytes that came with the final frame can only be an attack.
          guard queue.readable.isEmpty else { throw ProtocolError.trailingData }
          try flush()
          return
        }
      }
    } catch {
      try? flush()
      throw error
    }
  }
}

enum TerminalText {
  /// Shows control characters other than tab and newline as `^X` (DEL as `^?`), so that a peer
  /// cannot move the cursor, clear the screen or retitle the terminal.
  static func escapingControls(_ bytes: [UInt8]) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(bytes.count)
    for byte in bytes {
      if (byte < 0x20 && byte != 0x09 && byte != 0x0a) || byte == 0x7f {
        out.append(UInt8(ascii: "^"))
        out.append(byte == 0x7f ? UInt8(ascii: "?") : byte + 0x40)
      } else {
        out.append(byte)
      }
    }
    return out
  }
}
