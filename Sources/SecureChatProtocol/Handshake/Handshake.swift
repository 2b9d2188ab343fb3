import SecureChatCrypto

/// The handshake state machine of docs/PROTOCOL.md §3, sans I/O: give it each complete message
/// from the peer (`receive`), send what it returns. Four messages:
///
///     I1  initiator → responder   hello: version, commitment SHA-256(label ‖ EI), challenge cI
///     R1  responder → initiator   hello: version, ephemeral key ER, challenge cR
///     I2  initiator → responder   EI, name frame (encrypted) + response HMAC(KI, label ‖ TH3)
///     R2  responder → initiator   name frame (encrypted) + response HMAC(KR, label ‖ TH4)
///
/// The initiator proves itself first; the responder checks that proof before it answers, and the
/// initiator checks the responder's before it reports success. No keys exist until then.
///
/// A responder may hold several pre-shared keys, one per peer (PROTOCOL.md §3.9): nothing it
/// receives says which key the initiator holds, so when I2 arrives it computes the expected
/// response under every key, compares each with the response in I2 in constant time, and only
/// then takes the one key that verified. Padded (`paddedTo`, for a peers file), it also computes
/// and compares the responses of random keys that can never verify, up to a fixed count, so that
/// the time it takes does not say how many keys it holds.
public final class Handshake {
  public enum Role: UInt8, Sendable {
    case initiator = 1
    case responder = 2
  }

  public enum State: Equatable {
    case idle
    case awaitingInitiatorHello
    case awaitingResponderHello
    case awaitingInitiatorAuth
    case awaitingResponderAuth
    case complete
    case failed
  }

  /// The randomness one handshake uses; injectable so that docs/PROTOCOL.md can give vectors.
  public struct Randomness {
    public let ephemeralSecret: SecretBytes
    public let challenge: [UInt8]
    public let nameFrameIV: [UInt8]

    public init(ephemeralSecret: SecretBytes, challenge: [UInt8], nameFrameIV: [UInt8]) {
      precondition(ephemeralSecret.count == 32 && challenge.count == 32 && nameFrameIV.count == 16)
      self.ephemeralSecret = ephemeralSecret
      self.challenge = challenge
      self.nameFrameIV = nameFrameIV
    }

    public static func fresh() -> Randomness {
      Randomness(
        ephemeralSecret: .random(count: 32), challenge: SecureRandom.bytes(count: 32),
        nameFrameIV: SecureRandom.bytes(count: 16))
    }
  }

  /// A pre-shared key this side accepts, and the name its holder must authenticate as, if any.
  public struct PeerKey {
    public let psk: SecretBytes
    /// The peer must name itself exactly so (§3.5 step A5); nil accepts any valid name.
    public let expectedName: [UInt8]?
    /// How a diagnostic names this key, such as "entry 'bob'" (not secret); nil for a lone key.
    public let label: String?

    public init(psk: SecretBytes, expectedName: [UInt8]? = nil, label: String? = nil) {
      precondition(psk.count == KeyFile.keySize, "a pre-shared key is 32 bytes")
      precondition(expectedName.map(SessionName.isValid) ?? true, "invalid expected peer name")
      self.psk = psk
      self.expectedName = expectedName
      self.label = label
    }
  }

  public let role: Role
  public private(set) var state: State = .idle
  /// Set once the handshake is complete, never before.
  public private(set) var result: SessionSecrets?
  /// The index in `keys` of the key the peer proved it holds: set once the peer's response has
  /// verified (the initiator's single key from the start), and kept if a later check fails.
  public private(set) var selectedKeyIndex: Int?

  private let keys: [PeerKey]
  /// The key in use: the initiator's from the start, the responder's once I2 has verified.
  private var psk: SecretBytes?
  private let localName: [UInt8]
  private let randomness: Randomness
  private let ephemeral: X25519PrivateKey
  private var transcriptHash: [UInt8] = []
  private var sharedSecret: SecretBytes?
  private var handshakePRK: SecretBytes?
  /// The responder's candidates (§3.9): the response key `KI` (§4.1) of each of its keys, in
  /// order, then of the padding keys. Each depends on a key alone, so it is derived once, before
  /// the handshake; at I2 every candidate costs the same, one HMAC and one comparison.
  let candidateResponseKeys: [SecretBytes]
  /// How many of `candidateResponseKeys` are padding (random keys, never selectable).
  let paddingCount: Int
  /// How many candidate responses the responder computed and compared for I2 (for the tests).
  private(set) var candidateResponsesComputed = 0
  /// The transcript hash TH2 that salts the handshake secret (§4.2), kept by the responder
  /// until a key has verified.
  private var handshakeSalt: [UInt8] = []
  private var peerName: [UInt8] = []
  /// The peer's ephemeral public key, for the verification code.
  private var peerPublicKey: [UInt8] = []
  /// The responder's copy of the commitment in I1.
  private var initiatorCommitment: [UInt8] = []

  /// One pre-shared key; the peer must name itself `expectedPeerName` if that is given.
  public convenience init(
    role: Role, psk: SecretBytes, localName: [UInt8], expectedPeerName: [UInt8]? = nil,
    randomness: Randomness = .fresh()
  ) throws {
    try self.init(
      role: role, keys: [PeerKey(psk: psk, expectedName: expectedPeerName)], localName: localName,
      randomness: randomness)
  }

  /// The initiator holds exactly one key; a responder one or more, all different (two keys that
  /// are the same would both verify, and the handshake would then fail: see §3.9). A responder
  /// `paddedTo` a count (at least `keys.count`) computes that many candidate responses at I2
  /// whatever the number of its keys: its keys, then fresh random keys that it never selects.
  public convenience init(
    role: Role, keys: [PeerKey], localName: [UInt8], paddedTo candidateCount: Int? = nil,
    randomness: Randomness = .fresh()
  ) throws {
    precondition(role == .responder || candidateCount == nil, "only a responder pads its keys")
    precondition(candidateCount.map { $0 >= keys.count } ?? true, "more keys than candidates")
    let padding = (0..<((candidateCount ?? keys.count) - keys.count)).map { _ in
      SecretBytes.random(count: KeyFile.keySize)
    }
    try self.init(role: role, keys: keys, localName: localName, padding: padding, randomness: randomness)
  }

  /// `padding`: the keys of the padding candidates (random in use; chosen by the tests, to show
  /// that one that verifies is still not selected).
  init(role: Role, keys: [PeerKey], localName: [UInt8], padding: [SecretBytes], randomness: Randomness) throws {
    precondition(SessionName.isValid(localName), "invalid local name")
    precondition(!keys.isEmpty, "no pre-shared key")
    precondition(role == .responder || keys.count == 1, "an initiator holds exactly one key")
    precondition(role == .responder || padding.isEmpty, "only a responder pads its keys")
    self.role = role
    self.keys = keys
    paddingCount = padding.count
    if role == .initiator {
      psk = keys[0].psk
      selectedKeyIndex = 0
      candidateResponseKeys = []
    } else {
      candidateResponseKeys = try (keys.map(\.psk) + padding).map {
        try KeySchedule.responseKey(psk: $0, role: .initiator)
      }
    }
    self.localName = localName
    self.randomness = randomness
    ephemeral = try X25519PrivateKey(rawRepresentation: randomness.ephemeralSecret)
  }

  /// The first message to send: I1 for the initiator, nothing for the responder.
  public func start() -> [UInt8]? {
    precondition(state == .idle)
    switch role {
    case .initiator:
      let hello = makeHello(.initiatorHello)
      transcriptHash = SHA256.hash(HandshakeLabels.transcript + hello)
      state = .awaitingResponderHello
      return hello
    case .responder:
      state = .awaitingInitiatorHello
      return nil
    }
  }

  /// The message type the state machine waits for next.
  public var expectedMessage: HandshakeMessageType? {
    switch state {
    case .awaitingInitiatorHello: return .initiatorHello
    case .awaitingResponderHello: return .responderHello
    case .awaitingInitiatorAuth: return .initiatorAuth
    case .awaitingResponderAuth: return .responderAuth
    default: return nil
    }
  }

  /// Processes one complete message (header and body) from the peer and returns the reply to
  /// send, if any. Any error leaves the machine `failed`, with no keys.
  public func receive(_ message: [UInt8]) throws -> [UInt8]? {
    guard let expected = expectedMessage else { throw HandshakeError.malformed("message after the end") }
    do {
      guard message.count >= HandshakeMessage.headerSize else { throw HandshakeError.truncated }
      let length = try HandshakeMessage.bodyLength(
        header: Array(message.prefix(HandshakeMessage.headerSize)), expecting: expected,
        isFirst: state == .awaitingInitiatorHello || state == .awaitingResponderHello)
      guard message.count == HandshakeMessage.headerSize + length else {
        throw message.count < HandshakeMessage.headerSize + length
          ? HandshakeError.truncated : HandshakeError.malformed("message longer than its header says")
      }
      switch state {
      case .awaitingInitiatorHello: return try receiveInitiatorHello(message)
      case .awaitingResponderHello: return try receiveResponderHello(message)
      case .awaitingInitiatorAuth: return try receiveInitiatorAuth(message)
      case .awaitingResponderAuth: return try receiveResponderAuth(message)
      default: preconditionFailure()
      }
    } catch {
      state = .failed
      sharedSecret = nil
      handshakePRK = nil
      throw error
    }
  }

  // MARK: steps (PROTOCOL.md §3.4)

  /// I1 carries a commitment to the initiator's ephemeral key, R1 the responder's key itself:
  /// each key is fixed before its owner sees the other one (§3.2, §4.6).
  private func makeHello(_ type: HandshakeMessageType) -> [UInt8] {
    let key = type == .initiatorHello ? Self.commitment(to: ephemeral.publicKey) : ephemeral.publicKey
    return HandshakeMessage.header(type, bodyCount: HandshakeMessage.helloBodySize) + [HandshakeMessage.protocolVersion]
      + key + randomness.challenge
  }

  /// §4.1: SHA-256(label ‖ EI).
  static func commitment(to initiatorPublicKey: [UInt8]) -> [UInt8] {
    SHA256.hash(HandshakeLabels.initiatorKeyCommitment + initiatorPublicKey)
  }

  /// R: I1 → R1. Remembers the initiator's commitment; nothing is authenticated yet, and no DH
  /// can be computed until I2 reveals the initiator's key.
  private func receiveInitiatorHello(_ message: [UInt8]) throws -> [UInt8] {
    try checkHello(message)
    initiatorCommitment = Array(message[4..<36])
    let reply = makeHello(.responderHello)
    transcriptHash = SHA256.hash(SHA256.hash(HandshakeLabels.transcript + message) + reply)
    state = .awaitingInitiatorAuth
    return reply
  }

  /// I: R1 → I2, the initiator's proof.
  private func receiveResponderHello(_ message: [UInt8]) throws -> [UInt8] {
    try checkHello(message)
    transcriptHash = SHA256.hash(transcriptHash + message)
    try deriveHandshakeSecret(peerPublicKey: Array(message[4..<36]))
    let reply = try makeAuth(.initiatorAuth)
    state = .awaitingResponderAuth
    return reply
  }

  /// R: I2 → R2, after checking the initiator's key against its commitment and its proof; the
  /// responder is then done.
  private func receiveInitiatorAuth(_ message: [UInt8]) throws -> [UInt8] {
    let initiatorKey = Array(message[HandshakeMessage.headerSize..<(HandshakeMessage.headerSize + 32)])
    guard ConstantTime.equals(Self.commitment(to: initiatorKey), initiatorCommitment) else {
      throw HandshakeError.authenticationFailed("the initiator's key does not match its commitment")
    }
    // §3.5 K2: one DH; the handshake secret follows once a key has verified (§3.9).
    peerPublicKey = initiatorKey
    guard let shared = ephemeral.sharedSecret(with: initiatorKey) else { throw HandshakeError.invalidPublicKey }
    sharedSecret = shared
    handshakeSalt = transcriptHash
    try checkAuth(message, from: .initiator)
    let reply = try makeAuth(.responderAuth)
    try complete()
    return reply
  }

  /// I: R2, the responder's proof; the initiator is then done.
  private func receiveResponderAuth(_ message: [UInt8]) throws -> [UInt8]? {
    try checkAuth(message, from: .responder)
    try complete()
    return nil
  }

  private func checkHello(_ message: [UInt8]) throws {
    let version = message[3]
    guard version == HandshakeMessage.protocolVersion else { throw HandshakeError.unsupportedVersion(version) }
  }

  private func deriveHandshakeSecret(peerPublicKey: [UInt8]) throws {
    self.peerPublicKey = peerPublicKey
    guard let shared = ephemeral.sharedSecret(with: peerPublicKey) else { throw HandshakeError.invalidPublicKey }
    sharedSecret = shared
    handshakePRK = try KeySchedule.extract(sharedSecret: shared, psk: psk!, transcriptHash: transcriptHash)
  }

  /// §3.5 A1 for the responder (§3.9): the response the initiator would have made under each
  /// candidate, every one computed and compared in constant time whatever the others gave, so
  /// that the time taken depends neither on which key verifies nor, padded, on how many keys
  /// there are. The index is kept with masks, not branches; a padding key's match is masked out,
  /// so it can never be selected. Exactly one key must verify; then, and only for it, the
  /// handshake secret (§4.2).
  private func selectKey(response: [UInt8]) throws {
    var selected = 0
    var matches = 0
    for index in candidateResponseKeys.indices {
      let expected = try HMACSHA256(key: candidateResponseKeys[index]).authenticate(
        HandshakeLabels.initiatorResponse, transcriptHash)
      // 1 for the responder's own keys, 0 for padding; arithmetic, like the rest of the loop.
      let isKey = Int(bitPattern: UInt(bitPattern: index &- keys.count) >> (UInt.bitWidth - 1))
      let match = (ConstantTime.equals(expected, response) ? 1 : 0) & isKey
      let mask = 0 &- match
      selected = (index & mask) | (selected & ~mask)
      matches &+= match
    }
    candidateResponsesComputed = candidateResponseKeys.count
    guard matches == 1 else {
      if matches > 1 {
        throw HandshakeError.authenticationFailed(
          "the peer's response verifies under \(matches) keys: they are the same key")
      }
      throw HandshakeError.authenticationFailed(
        keys.count == 1
          ? "the peer's response does not verify (different key, or tampered)"
          : "the peer's response does not verify under any of the \(keys.count) keys (unknown key, or tampered)")
    }
    selectedKeyIndex = selected
    psk = keys[selected].psk
    handshakePRK = try KeySchedule.extract(sharedSecret: sharedSecret!, psk: psk!, transcriptHash: handshakeSalt)
  }

  /// I2 or R2: our name in a frame under our handshake keys, then our response over the
  /// transcript so far (which now includes that frame).
  private func makeAuth(_ type: HandshakeMessageType) throws -> [UInt8] {
    let sealer = try FrameSealer(
      keys: try KeySchedule.handshakeFrameKeys(prk: handshakePRK!, role: role), fixedIVs: [randomness.nameFrameIV])
    let frame = sealer.seal(localName, isFinal: true)
    // I2 reveals the initiator's ephemeral key first (§3.3).
    let key = role == .initiator ? ephemeral.publicKey : []
    let header = HandshakeMessage.header(type, bodyCount: key.count + frame.count + HandshakeMessage.responseSize)
    transcriptHash = SHA256.hash(transcriptHash + header + key + frame)
    let response = try Self.response(psk: psk!, role: role, transcriptHash: transcriptHash)
    transcriptHash = SHA256.hash(transcriptHash + response)
    return header + key + frame + response
  }

  /// The peer's I2 or R2: the name frame must verify under the peer's handshake keys, and the
  /// response under the peer's role key, compared in constant time.
  private func checkAuth(_ message: [UInt8], from peerRole: Role) throws {
    let frameStart = HandshakeMessage.headerSize + (peerRole == .initiator ? HandshakeMessage.publicKeySize : 0)
    let frameBytes = Array(message[frameStart..<(message.count - HandshakeMessage.responseSize)])
    let response = Array(message.suffix(HandshakeMessage.responseSize))
    transcriptHash = SHA256.hash(transcriptHash + message.prefix(message.count - HandshakeMessage.responseSize))
    if peerRole == .initiator {
      try selectKey(response: response)
    } else {
      let expected = try Self.response(psk: psk!, role: peerRole, transcriptHash: transcriptHash)
      guard ConstantTime.equals(expected, response) else {
        throw HandshakeError.authenticationFailed("the peer's response does not verify (different key, or tampered)")
      }
    }
    let opener = try FrameOpener(keys: try KeySchedule.handshakeFrameKeys(prk: handshakePRK!, role: peerRole))
    let name: [UInt8]
    do {
      let (plaintext, frame) = try opener.open(frame: frameBytes)
      // §3.5 A3: one final data frame (a receipt frame, PROTOCOL.md §6.5, is for sessions only).
      guard frame.isFinal, frame.sequence == 0, frame.type == .data else {
        throw HandshakeError.malformed("name frame type or flags")
      }
      name = plaintext
    } catch let error as ProtocolError {
      // §3.5 A2: every failure of FORMATS.md §2.3 steps 1-7 and 9 is `authentication`; its
      // detail is told without the words of another class.
      let why: String
      switch error {
      case .truncated, .badLength, .malformed("frame size"): why = "its length does not fit the message"
      case .corrupted: why = "its CRC-32 does not match"
      case .authenticationFailed: why = "its tag does not verify"
      case .unsupported: why = "a reserved value in its header"
      case .outOfOrder: why = "its sequence number is not 0"
      default: why = "its padding or plaintext length is wrong"
      }
      throw HandshakeError.authenticationFailed("the peer's name frame does not verify (\(why))")
    }
    guard SessionName.isValid(name) else { throw HandshakeError.malformed("the peer's name is not a valid name") }
    // §3.5 A5: a peer that gives this side's own name is this side's own other role (one key for
    // both, and the user's initiator reached the user's responder), or someone posing as us.
    guard name != localName else {
      throw HandshakeError.authenticationFailed(
        "the peer authenticated with this side's own name '\(String(decoding: name, as: UTF8.self))'")
    }
    // §3.5 A5: the name the holder of this key must give, if one is set. The responder checks it
    // before it answers, the initiator before it accepts the session.
    let key = keys[selectedKeyIndex!]
    if let expectedName = key.expectedName, name != expectedName {
      let claimed = String(decoding: name, as: UTF8.self)
      let wanted = String(decoding: expectedName, as: UTF8.self)
      throw HandshakeError.authenticationFailed(
        key.label.map { "the peer authenticated with the key of \($0) but named itself '\(claimed)', not '\(wanted)'" }
          ?? "the peer named itself '\(claimed)', not '\(wanted)'")
    }
    peerName = name
    transcriptHash = SHA256.hash(transcriptHash + response)
  }

  static func response(psk: SecretBytes, role: Role, transcriptHash: [UInt8]) throws -> [UInt8] {
    let key = try KeySchedule.responseKey(psk: psk, role: role)
    let label = role == .initiator ? HandshakeLabels.initiatorResponse : HandshakeLabels.responderResponse
    return try HMACSHA256(key: key).authenticate(label, transcriptHash)
  }

  /// §4.5: session keys from the DH output and the PSK, salted with the final transcript hash.
  private func complete() throws {
    let prk = try KeySchedule.extract(sharedSecret: sharedSecret!, psk: psk!, transcriptHash: transcriptHash)
    let initiatorToResponder = FrameKeys(
      encryption: try KeySchedule.expand(prk, HandshakeLabels.initiatorToResponderEncryption),
      authentication: try KeySchedule.expand(prk, HandshakeLabels.initiatorToResponderAuthentication))
    let responderToInitiator = FrameKeys(
      encryption: try KeySchedule.expand(prk, HandshakeLabels.responderToInitiatorEncryption),
      authentication: try KeySchedule.expand(prk, HandshakeLabels.responderToInitiatorAuthentication))
    // The session id is public (it names the session in logs), so it leaves the secret buffer.
    let sessionID = try KeySchedule.expand(prk, HandshakeLabels.sessionID, count: 16).withUnsafeBytes { Array($0) }
    result = SessionSecrets(
      role: role, sessionID: sessionID, localName: localName, peerName: peerName, transcriptHash: transcriptHash,
      verificationCode: KeySchedule.verificationCode(
        initiatorPublicKey: role == .initiator ? ephemeral.publicKey : peerPublicKey,
        responderPublicKey: role == .initiator ? peerPublicKey : ephemeral.publicKey),
      send: role == .initiator ? initiatorToResponder : responderToInitiator,
      receive: role == .initiator ? responderToInitiator : initiatorToResponder,
      continuationSecret: try KeySchedule.expand(prk, HandshakeLabels.continuation))
    sharedSecret = nil
    handshakePRK = nil
    state = .complete
  }
}
