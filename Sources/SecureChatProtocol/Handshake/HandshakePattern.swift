/// The handshakes of docs/PROTOCOL.md as tables of message patterns, in the manner of Noise: each
/// message is a list of tokens, and one interpreter (`Handshake`) runs any of them. Protocol
/// version 1 authenticates with a pre-shared key (§3); version 2 with identities, X25519 key
/// pairs, and optionally a pre-shared key as well (§11).
///
/// A token is either a field on the wire or a step without bytes (a Diffie-Hellman output mixed
/// into the key schedule). The sender handles a message's tokens in order as it builds it; the
/// receiver in the same order, except that in version 1 the response is verified before the name
/// frame is opened (its key does not depend on anything in the message, §3.5).
public struct HandshakePattern: Sendable {
  public enum Token: Sendable, Equatable {
    /// 1 byte: the protocol version (hellos).
    case version
    /// 32 bytes: SHA-256(label ‖ E) of the sender's ephemeral key, which is revealed later (§4.1).
    case commitment
    /// 32 bytes: the sender's ephemeral public key, in the clear.
    case ephemeral
    /// 32 bytes: the ephemeral key committed to earlier; it must match the commitment (§3.5 K1).
    case revealEphemeral
    /// 32 random bytes.
    case challenge
    /// Mix the Diffie-Hellman output of the two ephemeral keys (no bytes).
    case ee
    /// Mix DH(initiator's ephemeral, responder's static key) (no bytes; version 2).
    case es
    /// Mix DH(initiator's static key, responder's ephemeral) (no bytes; version 2).
    case se
    /// A record-layer frame, under the sender's handshake keys, holding the sender's name.
    case nameFrame
    /// The same, holding the sender's static public key and then its name (version 2).
    case identityFrame
    /// 32 bytes: HMAC over the transcript hash so far, under the sender's response key.
    case response
  }

  /// Where the response keys come from.
  public enum ResponseKeys: Sendable {
    /// From the pre-shared key alone (§4.1): checked before anything of the message is opened.
    case preSharedKey
    /// From the handshake secret as it is when the response is made: every DH mixed so far.
    case handshakeSecret
  }

  public struct Message: Sendable {
    public let type: HandshakeMessageType
    public let sender: Handshake.Role
    public let tokens: [Token]
  }

  public let version: UInt8
  public let messages: [Message]
  public let responseKeys: ResponseKeys
  /// The message types this version knows: any other is `not-a-peer` first, `malformed` later.
  public let knownTypes: Set<UInt8>

  /// Version 1 (§3): four messages; the pre-shared key authenticates.
  public static let preSharedKey = HandshakePattern(
    version: 1,
    messages: [
      Message(type: .initiatorHello, sender: .initiator, tokens: [.version, .commitment, .challenge]),
      Message(type: .responderHello, sender: .responder, tokens: [.version, .ephemeral, .challenge]),
      Message(type: .initiatorAuth, sender: .initiator, tokens: [.revealEphemeral, .ee, .nameFrame, .response]),
      Message(type: .responderAuth, sender: .responder, tokens: [.nameFrame, .response]),
    ],
    responseKeys: .preSharedKey)

  /// Version 2 (§11): six messages; each side proves its static key with a response whose key
  /// mixes a DH of that static key with the other side's ephemeral, so a thief of one side's
  /// identity cannot pose as the other side to it. The initiator shows its identity last, and
  /// only to a responder that has proved its own.
  public static let identity = HandshakePattern(
    version: 2,
    messages: [
      Message(type: .initiatorHello, sender: .initiator, tokens: [.version, .commitment, .challenge]),
      Message(type: .responderHello, sender: .responder, tokens: [.version, .ephemeral, .challenge]),
      Message(type: .initiatorAuth, sender: .initiator, tokens: [.revealEphemeral, .ee]),
      Message(type: .responderAuth, sender: .responder, tokens: [.identityFrame, .es, .response]),
      Message(type: .initiatorIdentity, sender: .initiator, tokens: [.identityFrame, .se, .response]),
      Message(type: .responderConfirmation, sender: .responder, tokens: [.response]),
    ],
    responseKeys: .handshakeSecret)

  init(version: UInt8, messages: [Message], responseKeys: ResponseKeys) {
    self.version = version
    self.messages = messages
    self.responseKeys = responseKeys
    knownTypes = Set(messages.map(\.type.rawValue))
  }

  public var usesIdentities: Bool { messages.contains { $0.tokens.contains(.identityFrame) } }

  /// The labels of this version: "SecureChat v1 …" or "SecureChat v2 …".
  var labels: HandshakeLabels { HandshakeLabels(version: version) }

  /// The body lengths a message of this pattern can have (§3.1, §11.2): every field has a fixed
  /// size but a frame, whose size follows from the length of the name inside it.
  public static func bodyLengths(of message: Message) -> ClosedRange<Int> {
    let fixed = fixedSize(of: message)
    var frame = 0...0
    for token in message.tokens {
      switch token {
      case .version, .commitment, .ephemeral, .revealEphemeral, .challenge, .response, .ee, .es, .se: break
      case .nameFrame:
        frame =
          RecordLayer.frameSize(
            plaintextCount: SessionName.minLength)...RecordLayer.frameSize(
            plaintextCount: SessionName.maxLength)
      case .identityFrame:
        frame =
          RecordLayer.frameSize(
            plaintextCount: 32 + SessionName.minLength)...RecordLayer.frameSize(
            plaintextCount: 32 + SessionName.maxLength)
      }
    }
    return (fixed + frame.lowerBound)...(fixed + frame.upperBound)
  }

  /// The bytes of a message's fields of fixed size: everything in its body but a frame.
  static func fixedSize(of message: Message) -> Int {
    message.tokens.reduce(0) { total, token in
      switch token {
      case .version: return total + 1
      case .commitment, .ephemeral, .revealEphemeral, .challenge, .response: return total + 32
      case .ee, .es, .se, .nameFrame, .identityFrame: return total
      }
    }
  }
}
