import SecureChatCrypto

/// Every label and derivation of the handshake, in one place (docs/PROTOCOL.md §4).
enum HandshakeLabels {
  static let transcript = Array("SecureChat v1 handshake".utf8)
  static let initiatorKeyCommitment = Array("SecureChat v1 initiator key commitment".utf8)
  static let initiatorResponseKey = Array("SecureChat v1 initiator response key".utf8)
  static let responderResponseKey = Array("SecureChat v1 responder response key".utf8)
  static let initiatorResponse = Array("SecureChat v1 initiator response".utf8)
  static let responderResponse = Array("SecureChat v1 responder response".utf8)
  static let initiatorHandshakeEncryption = Array("SecureChat v1 handshake initiator encryption".utf8)
  static let initiatorHandshakeAuthentication = Array("SecureChat v1 handshake initiator authentication".utf8)
  static let responderHandshakeEncryption = Array("SecureChat v1 handshake responder encryption".utf8)
  static let responderHandshakeAuthentication = Array("SecureChat v1 handshake responder authentication".utf8)
  static let initiatorToResponderEncryption = Array("SecureChat v1 session initiator-to-responder encryption".utf8)
  static let initiatorToResponderAuthentication = Array(
    "SecureChat v1 session initiator-to-responder authentication".utf8)
  static let responderToInitiatorEncryption = Array("SecureChat v1 session responder-to-initiator encryption".utf8)
  static let responderToInitiatorAuthentication = Array(
    "SecureChat v1 session responder-to-initiator authentication".utf8)
  static let sessionID = Array("SecureChat v1 session id".utf8)
  static let verificationCode = Array("SecureChat v1 verification code".utf8)
  static let continuation = Array("SecureChat v1 continuation".utf8)
  static let continuedKey = Array("SecureChat v1 continued key".utf8)
}

enum KeySchedule {
  /// §4.1: the response keys depend on the pre-shared key and the role only.
  static func responseKey(psk: SecretBytes, role: Handshake.Role) throws -> SecretBytes {
    try HKDFSHA256.derive(
      inputKeyMaterial: psk, salt: [],
      info: role == .initiator ? HandshakeLabels.initiatorResponseKey : HandshakeLabels.responderResponseKey,
      outputCount: 32)
  }

  /// §4.2 and §4.5: PRK = HKDF-Extract(salt = transcript hash, IKM = DH output ‖ PSK). Mixing in
  /// the PSK means a man in the middle who has no key learns nothing; the DH output gives forward secrecy.
  static func extract(sharedSecret: SecretBytes, psk: SecretBytes, transcriptHash: [UInt8]) throws -> SecretBytes {
    try HKDFSHA256.derive(
      inputKeyMaterial: sharedSecret.concatenating(psk), salt: transcriptHash, info: [], outputCount: 32,
      mode: .extractOnly)
  }

  static func expand(_ prk: SecretBytes, _ label: [UInt8], count: Int = 32) throws -> SecretBytes {
    try HKDFSHA256.derive(inputKeyMaterial: prk, salt: [], info: label, outputCount: count, mode: .expandOnly)
  }

  /// §4.7: the key a continued handshake uses in place of the pre-shared key. It needs both the
  /// pre-shared key and the continuation secret of the session being continued, which only the
  /// two sides of that session hold.
  static func continuedKey(psk: SecretBytes, continuationSecret: SecretBytes) throws -> SecretBytes {
    try HKDFSHA256.derive(
      inputKeyMaterial: psk.concatenating(continuationSecret), salt: [], info: HandshakeLabels.continuedKey,
      outputCount: 32)
  }

  static func handshakeFrameKeys(prk: SecretBytes, role: Handshake.Role) throws -> FrameKeys {
    role == .initiator
      ? FrameKeys(
        encryption: try expand(prk, HandshakeLabels.initiatorHandshakeEncryption),
        authentication: try expand(prk, HandshakeLabels.initiatorHandshakeAuthentication))
      : FrameKeys(
        encryption: try expand(prk, HandshakeLabels.responderHandshakeEncryption),
        authentication: try expand(prk, HandshakeLabels.responderHandshakeAuthentication))
  }

  /// §4.6: twelve decimal digits in groups of three from SHA-256(label ‖ EI ‖ ER), the two
  /// ephemeral public keys.
  ///
  /// Only the two ephemeral public keys go in, not the whole transcript: a man in the middle who
  /// holds the pre-shared key sends the last message of one of his two handshakes, and every
  /// freely chosen byte in it (an IV, a challenge) would let him grind his code into the other
  /// side's at the cost of a hash. An ephemeral key he must be able to use costs a scalar
  /// multiplication per try, and it is fixed before he can see the code he has to match.
  static func verificationCode(initiatorPublicKey: [UInt8], responderPublicKey: [UInt8]) -> String {
    let digest = SHA256.hash(HandshakeLabels.verificationCode + initiatorPublicKey + responderPublicKey)
    let value = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } % 1_000_000_000_000
    var digits = String(value)
    digits = String(repeating: "0", count: 12 - digits.count) + digits
    var groups: [Substring] = []
    var index = digits.startIndex
    while index < digits.endIndex {
      let end = digits.index(index, offsetBy: 3)
      groups.append(digits[index..<end])
      index = end
    }
    return groups.joined(separator: " ")
  }
}

/// What the two sides of a session agree on besides its keys: public, shown to the user and
/// written to logs.
public struct SessionDetails: Sendable {
  public let role: Handshake.Role
  public let sessionID: [UInt8]
  public let localName: [UInt8]
  public let peerName: [UInt8]
  public let transcriptHash: [UInt8]
  public let verificationCode: String
}

/// What a completed handshake gives the session tools (written as the session file, §5): the
/// details (`session.sessionID`, `session.peerName`, ...) and the keys of both directions.
@dynamicMemberLookup
public struct SessionSecrets: Sendable {
  public let details: SessionDetails
  /// Keys for frames this side sends, and for frames it receives.
  public let send: FrameKeys
  public let receive: FrameKeys
  /// §4.7: what a later handshake of the same two sides mixes in to prove that it continues this
  /// session. Never written to the session file (all zero when read from one).
  public internal(set) var continuationSecret: SecretBytes

  init(details: SessionDetails, send: FrameKeys, receive: FrameKeys, continuationSecret: SecretBytes? = nil) {
    self.details = details
    self.send = send
    self.receive = receive
    self.continuationSecret = continuationSecret ?? SecretBytes(count: 32)
  }

  init(
    role: Handshake.Role, sessionID: [UInt8], localName: [UInt8], peerName: [UInt8], transcriptHash: [UInt8],
    verificationCode: String, send: FrameKeys, receive: FrameKeys, continuationSecret: SecretBytes? = nil
  ) {
    self.init(
      details: SessionDetails(
        role: role, sessionID: sessionID, localName: localName, peerName: peerName, transcriptHash: transcriptHash,
        verificationCode: verificationCode),
      send: send, receive: receive, continuationSecret: continuationSecret)
  }

  public subscript<Value>(dynamicMember detail: KeyPath<SessionDetails, Value>) -> Value { details[keyPath: detail] }

  /// What one of the session tools holds: this session with the keys of `direction` only.
  public func oneWay(_ direction: OneWaySession.Direction) -> OneWaySession {
    OneWaySession(direction: direction, details: details, keys: direction == .send ? send : receive)
  }
}

/// One direction of a session, all that sc-seal -s (sending) or sc-open -s (receiving) holds:
/// the session's details and the two keys of that direction, never those of the other.
@dynamicMemberLookup
public struct OneWaySession: Sendable {
  public enum Direction: Sendable { case send, receive }
  public let direction: Direction
  public let details: SessionDetails
  public let keys: FrameKeys

  public subscript<Value>(dynamicMember detail: KeyPath<SessionDetails, Value>) -> Value { details[keyPath: detail] }
}
