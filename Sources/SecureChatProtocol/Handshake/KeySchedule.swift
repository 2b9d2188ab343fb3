import SecureChatCrypto

/// Every label of the handshake, in one place (docs/PROTOCOL.md §4, §11.3): "SecureChat v1 …" for
/// the pre-shared key handshake, "SecureChat v2 …" for the identity handshake.
struct HandshakeLabels: Sendable {
  let version: UInt8

  private func label(_ text: String) -> [UInt8] { Array("SecureChat v\(version) \(text)".utf8) }

  var transcript: [UInt8] { label("handshake") }
  var initiatorKeyCommitment: [UInt8] { label("initiator key commitment") }
  var initiatorResponseKey: [UInt8] { label("initiator response key") }
  var responderResponseKey: [UInt8] { label("responder response key") }
  var initiatorResponse: [UInt8] { label("initiator response") }
  var responderResponse: [UInt8] { label("responder response") }
  var initiatorHandshakeEncryption: [UInt8] { label("handshake initiator encryption") }
  var initiatorHandshakeAuthentication: [UInt8] { label("handshake initiator authentication") }
  var responderHandshakeEncryption: [UInt8] { label("handshake responder encryption") }
  var responderHandshakeAuthentication: [UInt8] { label("handshake responder authentication") }
  var initiatorToResponderEncryption: [UInt8] { label("session initiator-to-responder encryption") }
  var initiatorToResponderAuthentication: [UInt8] { label("session initiator-to-responder authentication") }
  var responderToInitiatorEncryption: [UInt8] { label("session responder-to-initiator encryption") }
  var responderToInitiatorAuthentication: [UInt8] { label("session responder-to-initiator authentication") }
  var sessionID: [UInt8] { label("session id") }
  var verificationCode: [UInt8] { label("verification code") }
  var continuation: [UInt8] { label("continuation") }
  var continuedKey: [UInt8] { label("continued key") }

  static let v1 = HandshakeLabels(version: 1)
  // The version 1 labels by their old names, for callers that know only version 1.
  static var transcript: [UInt8] { v1.transcript }
  static var initiatorKeyCommitment: [UInt8] { v1.initiatorKeyCommitment }
  static var initiatorResponse: [UInt8] { v1.initiatorResponse }
  static var responderResponse: [UInt8] { v1.responderResponse }
  static var continuedKey: [UInt8] { v1.continuedKey }
}

enum KeySchedule {
  /// §4.1: the response keys depend on the pre-shared key and the role only.
  static func responseKey(psk: SecretBytes, role: Handshake.Role, labels: HandshakeLabels = .v1) throws
    -> SecretBytes
  {
    try HKDFSHA256.derive(
      inputKeyMaterial: psk, salt: [],
      info: role == .initiator ? labels.initiatorResponseKey : labels.responderResponseKey, outputCount: 32)
  }

  /// §4.2 and §4.5: PRK = HKDF-Extract(salt = transcript hash, IKM = DH output ‖ PSK). Mixing in
  /// the PSK means a man in the middle who has no key learns nothing; the DH output gives forward secrecy.
  static func extract(sharedSecret: SecretBytes, psk: SecretBytes?, transcriptHash: [UInt8]) throws -> SecretBytes {
    try HKDFSHA256.derive(
      inputKeyMaterial: psk.map { sharedSecret.concatenating($0) } ?? sharedSecret, salt: transcriptHash, info: [],
      outputCount: 32, mode: .extractOnly)
  }

  static func expand(_ prk: SecretBytes, _ label: [UInt8], count: Int = 32) throws -> SecretBytes {
    try HKDFSHA256.derive(inputKeyMaterial: prk, salt: [], info: label, outputCount: count, mode: .expandOnly)
  }

  /// §4.7: the key a continued handshake uses in place of the pre-shared key. It needs both the
  /// pre-shared key and the continuation secret of the session being continued, which only the
  /// two sides of that session hold.
  static func continuedKey(psk: SecretBytes, continuationSecret: SecretBytes) throws -> SecretBytes {
    try HKDFSHA256.derive(
      inputKeyMaterial: psk.concatenating(continuationSecret), salt: [], info: HandshakeLabels.v1.continuedKey,
      outputCount: 32)
  }

  static func handshakeFrameKeys(prk: SecretBytes, role: Handshake.Role, labels: HandshakeLabels = .v1) throws
    -> FrameKeys
  {
    role == .initiator
      ? FrameKeys(
        encryption: try expand(prk, labels.initiatorHandshakeEncryption),
        authentication: try expand(prk, labels.initiatorHandshakeAuthentication))
      : FrameKeys(
        encryption: try expand(prk, labels.responderHandshakeEncryption),
        authentication: try expand(prk, labels.responderHandshakeAuthentication))
  }

  /// §4.6: twelve decimal digits in groups of three from SHA-256(label ‖ EI ‖ ER), the two
  /// ephemeral public keys.
  ///
  /// Only the two ephemeral public keys go in, not the whole transcript: a man in the middle who
  /// holds the pre-shared key sends the last message of one of his two handshakes, and every
  /// freely chosen byte in it (an IV, a challenge) would let him grind his code into the other
  /// side's at the cost of a hash. An ephemeral key he must be able to use costs a scalar
  /// multiplication per try, and it is fixed before he can see the code he has to match.
  static func verificationCode(
    initiatorPublicKey: [UInt8], responderPublicKey: [UInt8], labels: HandshakeLabels = .v1
  ) -> String {
    let digest = SHA256.hash(labels.verificationCode + initiatorPublicKey + responderPublicKey)
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
