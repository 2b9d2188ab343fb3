/// Sans-I/O reader of a live session stream (docs/PROTOCOL.md §6): frames verified in order with
/// the receive keys; the stream ends with the final frame, and must not end before it.
public final class SessionStreamReader {
  public enum Step {
    case needMoreInput
    /// A verified message, its frame's sequence number; `consumed` bytes of input were used.
    case message(consumed: Int, sequence: UInt64, plaintext: [UInt8])
    /// The final frame (its plaintext, normally empty, is included); the session is over.
    case finished(consumed: Int, sequence: UInt64, plaintext: [UInt8])
  }

  private let opener: FrameOpener
  public private(set) var isFinished = false

  public init(session: SessionSecrets) throws {
    opener = try FrameOpener(keys: session.receive)
  }

  /// `input` is the buffered, unconsumed input; `atEnd` says that no more will come.
  public func next(_ input: UnsafeRawBufferPointer, atEnd: Bool) throws -> Step {
    precondition(!isFinished, "read past the final frame")
    guard let length = try RecordLayer.frameLength(startingAt: input), input.count >= length else {
      if atEnd { throw ProtocolError.truncated }
      return .needMoreInput
    }
    let (plaintext, frame) = try opener.openInPlace(UnsafeRawBufferPointer(rebasing: input[0..<length]))
    if frame.isFinal {
      isFinished = true
      return .finished(consumed: length, sequence: frame.sequence, plaintext: plaintext)
    }
    return .message(consumed: length, sequence: frame.sequence, plaintext: plaintext)
  }

  /// Opens a whole stream held in memory: the messages verified before the first failure, and
  /// that failure (nil when the stream ended properly with its final frame).
  public static func openAll(_ stream: [UInt8], session: SessionSecrets) throws -> (
    plaintext: [UInt8], error: ProtocolError?
  ) {
    let reader = try SessionStreamReader(session: session)
    var plaintext: [UInt8] = []
    var offset = 0
    do {
      while true {
        let step = try stream.withUnsafeBytes {
          try reader.next(UnsafeRawBufferPointer(rebasing: $0[offset...]), atEnd: true)
        }
        switch step {
        case .needMoreInput: preconditionFailure("the whole stream was given")
        case .message(let consumed, _, let message):
          plaintext += message
          offset += consumed
        case .finished(let consumed, _, let message):
          plaintext += message
          offset += consumed
          guard offset == stream.count else { throw ProtocolError.trailingData }
          return (plaintext, nil)
        }
      }
    } catch let error as ProtocolError {
      return (plaintext, error)
    }
  }
}
