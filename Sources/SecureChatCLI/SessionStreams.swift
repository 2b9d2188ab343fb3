import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// `sc-seal -s`: one frame per line (or per chunk of raw input with `--binary`). Everything read
/// in one read(2) is sealed and written in one write(2): a line typed at a terminal goes out at
/// once, while a stream of lines is batched. End of input sends the final frame. A read that
/// brings many lines has them sealed on two cores: the second half by a helper thread with its
/// own sealer (same keys), at sequence numbers reserved for it; the frames are written in order.
///
/// With `receipts` (`--receipts-from`), it waits on both inputs with poll(2) and sends a receipt
/// frame for each message number as soon as it is read (docs/PROTOCOL.md §6.5); without, it only
/// ever blocks in read(2) on the messages, as before.
enum SessionSealing {
  static let readSize = 1 << 18
  /// Frames are written when this much is ready (or when no more input is waiting).
  static let frameBufferSize = 1 << 18
  /// Fewer lines than this in one go are sealed on the calling thread alone: waking the helper
  /// costs about as much as sealing a few dozen short lines.
  static let parallelMinimum = 64

  static func run(
    input: FileDescriptor, output: FileDescriptor, session: OneWaySession, binary: Bool, logger: SessionLogger?,
    receipts: ReceiptInput? = nil
  ) throws {
    precondition(session.direction == .send)
    let sealer = try FrameSealer(keys: session.keys)
    // Plaintext: zeroed on release. Holds at most one partial line besides what was just read.
    let inputBuffer = SecretBytes(count: readSize + RecordLayer.maxPlaintextCount)
    var frames = [UInt8](repeating: 0, count: frameBufferSize + RecordLayer.maxFrameSize)
    var produced = 0
    var pending = 0  // bytes of an unfinished line kept at the front of inputBuffer
    // The messages of one read (offsets into inputBuffer), and for the two-core path a second
    // sealer and its thread, made when first needed.
    var messages: [Range<Int>] = []
    var helperSealer: FrameSealer?
    let helper = HelperThread()

    func sendFrames() throws {
      guard produced > 0 else { return }
      try frames.withUnsafeBytes { try writeToPeer(output, UnsafeRawBufferPointer(rebasing: $0[0..<produced])) }
      produced = 0
      // Logged once written: a "sent" entry means the bytes left this process.
      try logger?.flush()
    }
    func seal(_ message: UnsafeRawBufferPointer, isFinal: Bool = false) throws {
      if produced + RecordLayer.frameSize(plaintextCount: message.count) > frames.count { try sendFrames() }
      let sequence = sealer.nextSequence
      produced += frames.withUnsafeMutableBytes {
        sealer.seal(message, isFinal: isFinal, into: $0.baseAddress! + produced)
      }
      if !isFinal { logger?.message(sequence: sequence, message) }
    }
    /// Seals `messages` (none final) in order, as many at a time as the frame buffer holds,
    /// on two cores when there are enough of them.
    func sealMessages(_ data: UnsafeRawBufferPointer) throws {
      var next = 0
      while next < messages.count {
        var end = next
        var size = 0
        while end < messages.count {
          let frameSize = RecordLayer.frameSize(plaintextCount: messages[end].count)
          guard produced + size + frameSize <= frames.count else { break }
          size += frameSize
          end += 1
        }
        if end == next {
          try sendFrames()
          continue
        }
        // One numbering for the group; with enough lines, the helper seals the second half.
        let group = next..<end
        let first = sealer.reserve(group.count)
        let split = group.count >= parallelMinimum ? group.lowerBound + group.count / 2 : end
        if split < end, helperSealer == nil { helperSealer = try FrameSealer(keys: session.keys) }
        frames.withUnsafeMutableBytes { buffer in
          let base = buffer.baseAddress! + produced
          /// Seals `lines` (a slice of `messages`, indexed as it) with `sealer`, from `offset` on.
          /// The helper gets its own slice: it reads no variable the calling thread writes.
          func sealLines(_ lines: ArraySlice<Range<Int>>, with sealer: FrameSealer, from offset: Int) {
            var offset = offset
            for k in lines.indices {
              offset += sealer.sealReserved(
                UnsafeRawBufferPointer(rebasing: data[lines[k]]), sequence: first + UInt64(k - group.lowerBound),
                into: base + offset)
            }
          }
          guard split < end, let helperSealer else { return sealLines(messages[group], with: sealer, from: 0) }
          // The helper's first frame goes after the calling thread's frames.
          let helperStart = messages[group.lowerBound..<split].reduce(0) {
            $0 + RecordLayer.frameSize(plaintextCount: $1.count)
          }
          let helperLines = messages[split..<end]
          helper.run { sealLines(helperLines, with: helperSealer, from: helperStart) }
          sealLines(messages[group.lowerBound..<split], with: sealer, from: 0)
          helper.wait()
        }
        produced += size
        for k in group {
          logger?.message(
            sequence: first + UInt64(k - group.lowerBound), UnsafeRawBufferPointer(rebasing: data[messages[k]]))
        }
        next = end
      }
      messages.removeAll(keepingCapacity: true)
    }
    // Receipts are not logged (FORMATS.md §9.2): the log records messages.
    func sealReceipt(_ number: UInt64) throws {
      let plaintext = SessionReceipt.plaintext(acknowledging: number)
      if produced + RecordLayer.frameSize(plaintextCount: plaintext.count) > frames.count { try sendFrames() }
      produced += plaintext.withUnsafeBytes { message in
        frames.withUnsafeMutableBytes {
          sealer.seal(message, type: .receipt, isFinal: false, into: $0.baseAddress! + produced)
        }
      }
    }
    /// Seals and sends what one read(2) of `n` bytes brought; returns true at the end of input,
    /// once the final frame has been sent.
    func consume(_ n: Int) throws -> Bool {
      let atEnd = n == 0
      // The receipts already waiting go out before the final frame; later ones cannot.
      if atEnd { try receipts?.drain(sealReceipt) }
      let available = pending + n
      var start = 0
      try inputBuffer.withUnsafeBytes { data in
        while start < available {
          let limit = min(available, start + RecordLayer.maxPlaintextCount)
          var end = limit
          if !binary {
            if let newline = memchr(data.baseAddress! + start, 0x0a, limit - start) {
              end = UnsafeRawPointer(newline) - data.baseAddress! + 1
            } else if limit - start < RecordLayer.maxPlaintextCount && !atEnd {
              break  // an unfinished line: wait for the rest of it
            }
          }
          messages.append(start..<end)
          start = end
        }
        try sealMessages(data)
        if atEnd { try seal(UnsafeRawBufferPointer(rebasing: data[0..<0]), isFinal: true) }
      }
      // Everything read together goes out together, at once.
      try sendFrames()
      if atEnd { return true }
      pending = available - start
      if pending > 0 && start > 0 {
        inputBuffer.withUnsafeMutableBytes {
          $0.baseAddress!.copyMemory(from: $0.baseAddress! + start, byteCount: pending)
        }
      }
      return false
    }
    func readInput() throws -> Int {
      try inputBuffer.withUnsafeMutableBytes {
        try input.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[pending..<(pending + readSize)]))
      }
    }

    try logger?.open()
    do {
      if let receipts {
        while true {
          var fds = [pollfd(fd: input.rawValue, events: Int16(POLLIN), revents: 0)]
          if !receipts.ended { fds.append(pollfd(fd: receipts.fd.rawValue, events: Int16(POLLIN), revents: 0)) }
          if poll(&fds, nfds_t(fds.count), -1) < 0 {
            if errno == EINTR { continue }
            throw ToolError.system("cannot wait for input")
          }
          if fds.count > 1 && fds[1].revents != 0 {
            try receipts.drain(sealReceipt)
            try sendFrames()
          }
          if fds[0].revents != 0, try consume(try readInput()) { break }
        }
      } else {
        while try !consume(try readInput()) {}
      }
    } catch {
      try? logger?.close("failed: \(describe(error))")
      throw error
    }
    try logger?.close("final frame sent")
  }

  static func writeToPeer(_ output: FileDescriptor, _ bytes: UnsafeRawBufferPointer) throws {
    do {
      try output.writeAll(bytes)
    } catch {
      throw ToolError("cannot send to the peer: the connection is closed")
    }
  }
}

/// The one-line text of an error, for log entries.
func describe(_ error: Error) -> String {
  (error as? ToolError)?.message ?? (error as? ProtocolError)?.description ?? "\(error)"
}

/// `sc-open -s`: verifies each frame and writes its message as soon as it is verified; stops at
/// the first frame that fails (exit 1), after writing everything verified before it.
///
/// Receipts (docs/PROTOCOL.md §6.5): `receiptsTo` gets the number of each message once the
/// message has been written to the output; `delivered` the number each verified receipt frame of
/// the peer acknowledges. Both are written with the messages, before sc-open waits for more input.
enum SessionOpening {
  /// `escapeControls` is forced on by `--escape` for a program that shows the messages on a
  /// terminal through a pipe (sc-chat); on a terminal it is always on.
  static func run(
    input: FileDescriptor, output: OutputFile, session: OneWaySession, logger: SessionLogger?,
    escapeControls forceEscaping: Bool = false, receiptsTo: NumberLines? = nil, delivered: NumberLines? = nil
  ) throws {
    precondition(session.direction == .receive)
    let reader = try SessionStreamReader(keys: session.keys)
    let queue = InputQueue(capacity: (1 << 18) + RecordLayer.maxFrameSize, source: input.readFromPeer)
    let escapeControls = forceEscaping || output.fd.isTerminal
    var plaintext = [UInt8]()
    plaintext.reserveCapacity(1 << 18)
    defer { _ = plaintext.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) } }

    // Set when an entry could not be logged: what was not logged is then not shown either.
    var logFailed = false
    // Messages whose numbers have gone to `receiptsTo`: those written to the output.
    var shown: UInt64 = 0
    // `last`: sc-open is about to exit, so the numbers still waiting get a last chance.
    func flush(last: Bool = false) throws {
      // Logged before it is shown: nothing reaches the reader that the log does not have.
      do { try logger?.flush() } catch {
        logFailed = true
        throw error
      }
      try delivered?.flush(wait: last)
      if !plaintext.isEmpty {
        if escapeControls { plaintext = TerminalText.escapingControls(plaintext) }
        try output.write(plaintext)
        _ = plaintext.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        plaintext.removeAll(keepingCapacity: true)
      }
      // Only now are the messages written: their numbers may go to this side's sc-seal.
      if let receiptsTo {
        while shown < reader.messageCount {
          receiptsTo.append(shown)
          shown += 1
        }
        try receiptsTo.flush(wait: last)
      }
    }

    try logger?.open()
    do {
      while true {
        switch try reader.next(queue.readable, atEnd: queue.atEnd) {
        case .needMoreInput:
          // Everything verified so far goes out before waiting for more input.
          try flush()
          try queue.fill()
        case .message(let consumed, let sequence, let message):
          message.withUnsafeBytes { logger?.message(sequence: sequence, $0) }
          plaintext += message
          queue.consume(consumed)
        case .receipt(let consumed, _, let number):
          // Receipts are not logged (FORMATS.md §9.2).
          delivered?.append(number)
          queue.consume(consumed)
        case .finished(let consumed, let sequence, let message):
          if !message.isEmpty { message.withUnsafeBytes { logger?.message(sequence: sequence, $0) } }
          plaintext += message
          queue.consume(consumed)
          // The session is over: bytes that came with the final frame can only be an attack.
          guard queue.readable.isEmpty else { throw ProtocolError.trailingData }
          try flush(last: true)
          try logger?.close("final frame received")
          return
        }
      }
    } catch {
      // The messages verified before the failure are shown, unless the log could not take them.
      if !logFailed { try? flush(last: true) }
      // (The abort of the peer's sc-handshake where a frame should be is the reader's
      // `rejected`, PROTOCOL.md §6.3 rule 3.)
      try? logger?.close("failed: \(describe(error))")
      throw error
    }
  }
}

enum TerminalText {
  /// What a peer's message may show on a terminal (docs/PROTOCOL.md §6.3): tab, newline and
  /// printable text, including UTF-8. C0 controls and DEL are shown as `^X`/`^?`; C1 controls
  /// (U+0080–U+009F, which some terminals obey like ESC sequences) and bytes that are not valid
  /// UTF-8 as `\xNN`; so a peer cannot move the cursor, clear the screen or retitle the terminal.
  /// The bidirectional formatting characters and the line and paragraph separators
  /// (`isFormattingCharacter`) are shown as `\uNNNN`, so that a peer cannot make text read
  /// backwards or look like a line of its own.
  static func escapingControls(_ bytes: [UInt8]) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(bytes.count)
    let digits = Array("0123456789abcdef".utf8)
    func hex(_ byte: UInt8) {
      out += [UInt8(ascii: "\\"), UInt8(ascii: "x"), digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]]
    }
    var i = 0
    while i < bytes.count {
      let byte = bytes[i]
      if byte < 0x80 {
        if (byte < 0x20 && byte != 0x09 && byte != 0x0a) || byte == 0x7f {
          out += [UInt8(ascii: "^"), byte == 0x7f ? UInt8(ascii: "?") : byte + 0x40]
        } else {
          out.append(byte)
        }
        i += 1
        continue
      }
      let length = utf8SequenceLength(bytes, at: i)
      // A two-byte sequence C2 80–C2 9F encodes a C1 control.
      if length == 0 || (length == 2 && byte == 0xc2 && bytes[i + 1] < 0xa0) {
        hex(byte)
        i += 1
      } else if let scalar = formattingCharacter(bytes, at: i, length: length) {
        // `\u` and four lowercase hex digits: every such character is below U+10000.
        out += [UInt8(ascii: "\\"), UInt8(ascii: "u")]
        for shift in stride(from: 12, through: 0, by: -4) { out.append(digits[Int((scalar >> UInt32(shift)) & 0x0f)]) }
        i += length
      } else {
        out += bytes[i..<(i + length)]
        i += length
      }
    }
    return out
  }

  /// §6.3: the Unicode bidirectional formatting characters (ALM U+061C, LRM U+200E, RLM U+200F,
  /// the embeddings and overrides U+202A–U+202E, the isolates U+2066–U+2069), which reorder what
  /// a terminal that implements the bidirectional algorithm shows, and the line and paragraph
  /// separators U+2028 and U+2029, which some terminals and programs take for a line end. None
  /// is needed in a chat line.
  static func isFormattingCharacter(_ scalar: UInt32) -> Bool {
    switch scalar {
    case 0x061c, 0x200e, 0x200f, 0x2028...0x202e, 0x2066...0x2069: return true
    default: return false
    }
  }

  /// The code point of the valid `length`-byte sequence at `i` if it is a formatting character
  /// (all are two- or three-byte sequences), else nil.
  private static func formattingCharacter(_ bytes: [UInt8], at i: Int, length: Int) -> UInt32? {
    let scalar: UInt32
    switch length {
    case 2: scalar = UInt32(bytes[i] & 0x1f) << 6 | UInt32(bytes[i + 1] & 0x3f)
    case 3:
      scalar = UInt32(bytes[i] & 0x0f) << 12 | UInt32(bytes[i + 1] & 0x3f) << 6 | UInt32(bytes[i + 2] & 0x3f)
    default: return nil
    }
    return isFormattingCharacter(scalar) ? scalar : nil
  }

  /// The length of the valid UTF-8 sequence starting at `i`, or 0 (RFC 3629: no overlongs,
  /// no surrogates, nothing above U+10FFFF).
  private static func utf8SequenceLength(_ bytes: [UInt8], at i: Int) -> Int {
    let lead = bytes[i]
    let length: Int
    var low: UInt8 = 0x80
    var high: UInt8 = 0xbf
    switch lead {
    case 0xc2...0xdf: length = 2
    case 0xe0: (length, low) = (3, 0xa0)
    case 0xe1...0xec, 0xee...0xef: length = 3
    case 0xed: (length, high) = (3, 0x9f)
    case 0xf0: (length, low) = (4, 0x90)
    case 0xf1...0xf3: length = 4
    case 0xf4: (length, high) = (4, 0x8f)
    default: return 0
    }
    guard i + length <= bytes.count else { return 0 }
    for k in 1..<length {
      let byte = bytes[i + k]
      let (min, max) = k == 1 ? (low, high) : (UInt8(0x80), UInt8(0xbf))
      guard byte >= min && byte <= max else { return 0 }
    }
    return length
  }
}
