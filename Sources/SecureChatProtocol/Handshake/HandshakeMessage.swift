/// Handshake messages on the wire (docs/PROTOCOL.md §3):
///
///     0  type (1)    1  body length (2, big-endian)    3  body
///
/// The reader learns each message's exact length from its header, so sc-handshake never reads a
/// byte past its last message: whatever follows belongs to the next program on the stream.
public enum HandshakeMessageType: UInt8, Sendable {
  case initiatorHello = 0x01
  case responderHello = 0x02
  case initiatorAuth = 0x03
  case responderAuth = 0x04
  /// Version 2 only (§11): the initiator's identity and response, after the responder's.
  case initiatorIdentity = 0x05
  /// Version 2 only: the responder's last response, over the whole transcript.
  case responderConfirmation = 0x06
  /// "authentication failed", nothing finer (DESIGN.md): sent before a side gives up.
  case abort = 0x7f
}

public enum HandshakeMessage {
  public static let headerSize = 3
  public static let protocolVersion: UInt8 = 1
  public static let publicKeySize = 32
  public static let challengeSize = 32
  public static let responseSize = 32
  /// §3.2: version, then the initiator's key commitment or the responder's ephemeral public key
  /// (32 bytes either way), then the challenge.
  public static let helloBodySize = 1 + publicKeySize + challengeSize
  /// §3.3: a name frame (one to four cipher blocks for a 1–64 byte name) and a response.
  public static let minAuthBodySize = RecordLayer.frameSize(plaintextCount: SessionName.minLength) + responseSize
  public static let maxAuthBodySize = RecordLayer.frameSize(plaintextCount: SessionName.maxLength) + responseSize

  public static func header(_ type: HandshakeMessageType, bodyCount: Int) -> [UInt8] {
    [type.rawValue, UInt8(bodyCount >> 8), UInt8(bodyCount & 0xff)]
  }

  public static let abortMessage = header(.abort, bodyCount: 0)

  /// Checks a header against what the receiver expects next (§3.5 steps 2–5) and returns the
  /// body length, so that a hostile length is refused before anything is read or allocated.
  public static func bodyLength(
    header: [UInt8], expecting expected: HandshakeMessageType, isFirst: Bool,
    pattern: HandshakePattern = .preSharedKey
  ) throws -> Int {
    precondition(header.count == headerSize)
    let length = Int(header[1]) << 8 | Int(header[2])
    guard header[0] == HandshakeMessageType.abort.rawValue || pattern.knownTypes.contains(header[0]),
      let type = HandshakeMessageType(rawValue: header[0])
    else {
      throw isFirst ? HandshakeError.notAPeer : HandshakeError.malformed("unknown message type \(header[0])")
    }
    if type == .abort {
      guard length == 0 else { throw HandshakeError.malformed("abort message with a body") }
      throw HandshakeError.rejectedByPeer
    }
    guard type == expected, let message = pattern.messages.first(where: { $0.type == type }) else {
      throw HandshakeError.unexpectedMessage(type.rawValue, expected: expected.rawValue)
    }
    guard HandshakePattern.bodyLengths(of: message).contains(length) else {
      throw HandshakeError.malformed(
        type == .initiatorHello || type == .responderHello
          ? "hello of \(length) bytes" : "message of type \(type.rawValue) of \(length) bytes")
    }
    return length
  }
}

/// Names users give themselves with `-n` (PROTOCOL.md §2): 1–64 bytes of letters, digits and
/// `. _ - @ +`, so that a name shown on a terminal can carry no control sequence.
public enum SessionName {
  public static let minLength = 1
  public static let maxLength = 64

  public static func isValid(_ name: some Collection<UInt8>) -> Bool {
    guard name.count >= minLength, name.count <= maxLength else { return false }
    return name.allSatisfy { c in
      (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
        || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || Array("._-@+".utf8).contains(c)
    }
  }
}

/// Why a handshake failed. `isIntegrityFailure` cases exit 1; the others exit 2 (DESIGN.md).
public enum HandshakeError: Error, Equatable, CustomStringConvertible {
  /// The peer's response did not verify: wrong key or an active attacker.
  case authenticationFailed(String)
  /// The peer sent the abort message: it could not authenticate us.
  case rejectedByPeer
  /// A message of the wrong type for this point of the exchange.
  case unexpectedMessage(UInt8, expected: UInt8)
  /// A message with a bad length or content.
  case malformed(String)
  /// The stream ended in the middle of the handshake.
  case truncated
  /// The first bytes are not a SecureChat handshake at all.
  case notAPeer
  /// A SecureChat peer speaking another protocol version.
  case unsupportedVersion(UInt8, own: UInt8 = 1)
  /// The ephemeral Diffie-Hellman result was all zeros (a low-order point).
  case invalidPublicKey

  public var isIntegrityFailure: Bool {
    switch self {
    case .notAPeer, .unsupportedVersion: return false
    default: return true
    }
  }

  /// The words every diagnostic of this class starts with (PROTOCOL.md §3.7, "message starts
  /// with"): stable, so that a script can match on them.
  public var classWording: String {
    switch self {
    case .authenticationFailed: return "authentication failed"
    case .rejectedByPeer: return "rejected by the peer"
    case .unexpectedMessage: return "unexpected message"
    case .malformed: return "malformed handshake message"
    case .truncated: return "handshake truncated"
    case .notAPeer: return "the peer is not speaking the SecureChat handshake"
    case .unsupportedVersion: return "the peer speaks SecureChat protocol version"
    case .invalidPublicKey: return "invalid public key"
    }
  }

  public var description: String {
    switch self {
    case .authenticationFailed(let detail): return "authentication failed: \(detail)"
    case .rejectedByPeer:
      // What the peer refused it does not say (§3.6): this side's key, or its name (-n).
      return "rejected by the peer: it sent the abort (it holds another key, or does not accept this side's name)"
    case .unexpectedMessage(let type, let expected):
      return "unexpected message: type \(type) where \(expected) was expected"
    case .malformed(let detail): return "malformed handshake message: \(detail)"
    case .truncated: return "handshake truncated: the peer closed the connection"
    case .notAPeer: return "the peer is not speaking the SecureChat handshake"
    case .unsupportedVersion(let version, let own):
      // Version 1 is the pre-shared key handshake, version 2 the identity handshake (§11).
      let hint =
        version == 2 ? ": it uses an identity (sc-handshake -i)" : version == 1 ? ": it uses a pre-shared key only" : ""
      return "the peer speaks SecureChat protocol version \(version), not \(own)\(hint)"
    case .invalidPublicKey: return "invalid public key: the peer sent a low-order public key"
    }
  }
}
