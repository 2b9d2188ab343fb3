/// Delivery receipts (docs/PROTOCOL.md §6.5): a receipt frame's plaintext is the big-endian u64
/// number of a message of the other direction, message k being the k-th non-final data frame
/// (0-based) of that direction. Receipts acknowledge messages once each, in order: 0, 1, 2, …
public enum SessionReceipt {
  /// The exact plaintext size of a receipt frame.
  public static let plaintextCount = 8

  /// The plaintext of the receipt for message `number`.
  public static func plaintext(acknowledging number: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: number >> (56 - 8 * $0)) }
  }

  /// The message number a receipt's plaintext names; nil unless it is exactly 8 bytes.
  public static func messageNumber(_ plaintext: [UInt8]) -> UInt64? {
    guard plaintext.count == plaintextCount else { return nil }
    return plaintext.reduce(0) { $0 << 8 | UInt64($1) }
  }
}

/// Sans-I/O reader of a live session stream (docs/PROTOCOL.md §6): frames verified in order with
/// the receive keys; the stream ends with the final frame, and must not end before it. Data
/// frames are messages; receipt frames acknowledge this side's messages, and must name them in
/// order (§6.5): a receipt that does not is `malformed`, reported before anything after it.
public final class SessionStreamReader {
  public enum Step {
    case needMoreInput
    /// A verified message, its frame's sequence number; `consumed` bytes of input were used. Its
    /// message number is `messageCount - 1` after this step.
    case message(consumed: Int, sequence: UInt64, plaintext: [UInt8])
    /// A verified receipt: the peer acknowledges this side's message `messageNumber`, which is
    /// always the next one (0 for the first receipt, then one more each time).
    case receipt(consumed: Int, sequence: UInt64, messageNumber: UInt64)
    /// The final frame (its plaintext, normally empty, is included); the session is over. It has
    /// no message number and is never acknowledged.
    case finished(consumed: Int, sequence: UInt64, plaintext: [UInt8])
  }

  private let opener: FrameOpener
  public private(set) var isFinished = false
  /// Messages (non-final data frames) released so far: the number of the next one.
  public private(set) var messageCount: UInt64 = 0
  /// Receipts released so far: the message number the next receipt must name.
  public private(set) var receiptCount: UInt64 = 0

  public convenience init(session: SessionSecrets) throws {
    try self.init(keys: session.receive)
  }

  /// `keys`: those of the direction read (the receive keys of this side).
  public init(keys: FrameKeys) throws {
    opener = try FrameOpener(keys: keys)
  }

  /// `input` is the buffered, unconsumed input; `atEnd` says that no more will come.
  public func next(_ input: UnsafeRawBufferPointer, atEnd: Bool) throws -> Step {
    precondition(!isFinished, "read past the final frame")
    guard let length = try RecordLayer.frameLength(startingAt: input), input.count >= length else {
      // PROTOCOL.md §6.3 rule 3: the abort of the peer's sc-handshake, alone where a frame
      // should be, is its rejection of this side's R2 after this side finished (§7.10).
      if atEnd { throw input.elementsEqual(HandshakeMessage.abortMessage) ? ProtocolError.rejected : .truncated }
      return .needMoreInput
    }
    let (plaintext, frame) = try opener.openInPlace(UnsafeRawBufferPointer(rebasing: input[0..<length]))
    switch frame.type {
    case .receipt:
      // FORMATS.md §2.3 steps 8 and 10 for sessions: a receipt is never final, carries exactly
      // 8 bytes, and names the next message number.
      guard !frame.isFinal else { throw ProtocolError.malformed("a receipt frame marked final") }
      guard let number = SessionReceipt.messageNumber(plaintext) else {
        throw ProtocolError.malformed("a receipt frame of \(plaintext.count) bytes, not 8")
      }
      guard number == receiptCount else {
        throw ProtocolError.malformed(
          "a receipt for message \(number) where message \(receiptCount) was next: receipts go in order, once each")
      }
      receiptCount += 1
      return .receipt(consumed: length, sequence: frame.sequence, messageNumber: number)
    case .data:
      if frame.isFinal {
        isFinished = true
        return .finished(consumed: length, sequence: frame.sequence, plaintext: plaintext)
      }
      messageCount += 1
      return .message(consumed: length, sequence: frame.sequence, plaintext: plaintext)
    }
  }

  /// What `open(_:session:)` found in a whole stream.
  public struct Opened {
    /// The messages verified before the first failure, concatenated (the final frame's data too).
    public var plaintext: [UInt8] = []
    /// The message numbers of the receipts verified before the first failure, in order.
    public var receipts: [UInt64] = []
    /// How many messages (non-final data frames) were released: their numbers are 0 ..< this.
    public var messageCount: UInt64 = 0
    /// The first failure; nil when the stream ended properly with its final frame.
    public var error: ProtocolError?
  }

  /// Opens a whole stream held in memory: what was released before the first failure, and that
  /// failure.
  public static func open(_ stream: [UInt8], session: SessionSecrets) throws -> Opened {
    let reader = try SessionStreamReader(session: session)
    var opened = Opened()
    var offset = 0
    do {
      while true {
        let step = try stream.withUnsafeBytes {
          try reader.next(UnsafeRawBufferPointer(rebasing: $0[offset...]), atEnd: true)
        }
        switch step {
        case .needMoreInput: preconditionFailure("the whole stream was given")
        case .message(let consumed, _, let message):
          opened.plaintext += message
          offset += consumed
        case .receipt(let consumed, _, let number):
          opened.receipts.append(number)
          offset += consumed
        case .finished(let consumed, _, let message):
          opened.plaintext += message
          offset += consumed
          guard offset == stream.count else { throw ProtocolError.trailingData }
          opened.messageCount = reader.messageCount
          return opened
        }
      }
    } catch let error as ProtocolError {
      opened.error = error
      opened.messageCount = reader.messageCount
      return opened
    }
  }

  /// Opens a whole stream held in memory: the messages verified before the first failure, and
  /// that failure (nil when the stream ended properly with its final frame).
  public static func openAll(_ stream: [UInt8], session: SessionSecrets) throws -> (
    plaintext: [UInt8], error: ProtocolError?
  ) {
    let opened = try open(stream, session: session)
    return (opened.plaintext, opened.error)
  }
}
