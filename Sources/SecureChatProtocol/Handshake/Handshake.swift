import SecureChatCrypto

/// The handshake state machine of docs/PROTOCOL.md, sans I/O: give it each complete message from
/// the peer (`receive`), send what it returns. It runs a table of message patterns
/// (`HandshakePattern`): version 1, the pre-shared key handshake of §3, or version 2, the identity
/// handshake of §11. Version 1's four messages:
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
    /// Waiting for, or about to send, message `pattern.messages[n]`.
    case running
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
  public let pattern: HandshakePattern
  public private(set) var state: State = .idle
  /// Set once the handshake is complete, never before.
  public private(set) var result: SessionSecrets?
  /// The index in `keys` of the key the peer proved it holds: set once the peer's response has
  /// verified (the initiator's single key from the start), and kept if a later check fails.
  public private(set) var selectedKeyIndex: Int?
  /// Version 2: the peer's static key, once its identity frame has been opened.
  public private(set) var peerStaticKey: PublicKey?

  private let keys: [PeerKey]
  /// The pre-shared key in use: version 1's initiator's from the start, its responder's once I2
  /// has verified; version 2's optional second secret.
  private var psk: SecretBytes?
  private let localName: [UInt8]
  private let randomness: Randomness
  private let ephemeral: X25519PrivateKey
  /// Version 2: this side's identity, and the check of the peer's static key (pinning).
  private let localStatic: X25519PrivateKey?
  private let acceptPeerKey: ((PublicKey, [UInt8]) throws -> Void)?
  /// The static key this side's identity frame shows: its own (an impostor's other one in tests).
  private let shownStaticKey: [UInt8]
  private let labels: HandshakeLabels
  /// The index in `pattern.messages` of the next message, sent or received.
  private var nextMessage = 0
  private var transcriptHash: [UInt8] = []
  /// The Diffie-Hellman outputs mixed so far, in order (§4.2, §11.3).
  private var mixedSecrets: SecretBytes?
  /// The transcript hash at the start of the message in which the last DH was mixed: the salt
  /// of the handshake secret.
  private var mixSalt: [UInt8] = []
  /// HKDF-Extract(mixSalt, mixedSecrets ‖ PSK), derived when first needed (a version 1
  /// responder knows its PSK only once a response has verified).
  private var handshakePRK: SecretBytes?
  /// The responder's candidates (§3.9): the response key `KI` (§4.1) of each of its keys, in
  /// order, then of the padding keys. Each depends on a key alone, so it is derived once, before
  /// the handshake; at I2 every candidate costs the same, one HMAC and one comparison.
  let candidateResponseKeys: [SecretBytes]
  /// How many of `candidateResponseKeys` are padding (random keys, never selectable).
  let paddingCount: Int
  /// How many candidate responses the responder computed and compared for I2 (for the tests).
  private(set) var candidateResponsesComputed = 0
  private var peerName: [UInt8] = []
  /// The peer's ephemeral public key, for the DH and the verification code.
  private var peerEphemeral: [UInt8]?
  /// The peer's commitment to its ephemeral key (§4.1), until the key is revealed.
  private var peerCommitment: [UInt8]?
  /// Version 2's initiator: `se` (its static key with the responder's ephemeral key, nil if
  /// all zeros), computed by `prepareForPeerMessage` while R2 is on its way; `mix` takes it for
  /// that same ephemeral key only.
  private var precomputedSE: (peerEphemeral: [UInt8], shared: SecretBytes?)?

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
    pattern = .preSharedKey
    labels = pattern.labels
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
    localStatic = nil
    shownStaticKey = []
    acceptPeerKey = nil
  }

  /// Version 2 (§11): this side's `identity` (the secret of an `identity` key file), an optional
  /// pre-shared key mixed into every key as a second secret, and `acceptPeerKey`, which sees the
  /// peer's static key and name once the peer has proved that it holds that key, and throws to
  /// refuse it (an unknown or changed key; pinning is the caller's).
  public convenience init(
    role: Role, identity: SecretBytes, psk: SecretBytes? = nil, localName: [UInt8], expectedPeerName: [UInt8]? = nil,
    acceptPeerKey: @escaping (PublicKey, [UInt8]) throws -> Void, randomness: Randomness = .fresh()
  ) throws {
    try self.init(
      role: role, identity: identity, psk: psk, localName: localName, expectedPeerName: expectedPeerName,
      acceptPeerKey: acceptPeerKey, claimedStaticKey: nil, randomness: randomness)
  }

  /// `claimedStaticKey`: for the tests, an impostor that shows this key in its identity frame
  /// while it computes its DHs with `identity` (a thief who holds one identity and claims another).
  init(
    role: Role, identity: SecretBytes, psk: SecretBytes?, localName: [UInt8], expectedPeerName: [UInt8]? = nil,
    acceptPeerKey: @escaping (PublicKey, [UInt8]) throws -> Void, claimedStaticKey: PublicKey?,
    randomness: Randomness = .fresh()
  ) throws {
    precondition(SessionName.isValid(localName), "invalid local name")
    precondition(expectedPeerName.map(SessionName.isValid) ?? true, "invalid expected peer name")
    self.role = role
    pattern = .identity
    labels = pattern.labels
    // A stand-in for the pre-shared key of version 1's name checks: one "key", the identity.
    keys = [PeerKey(psk: psk ?? SecretBytes(count: KeyFile.keySize), expectedName: expectedPeerName)]
    self.psk = psk
    selectedKeyIndex = 0
    candidateResponseKeys = []
    paddingCount = 0
    self.localName = localName
    self.randomness = randomness
    ephemeral = try X25519PrivateKey(rawRepresentation: randomness.ephemeralSecret)
    localStatic = try X25519PrivateKey(rawRepresentation: identity)
    shownStaticKey = claimedStaticKey?.bytes ?? localStatic!.publicKey
    self.acceptPeerKey = acceptPeerKey
  }

  /// The first message to send: I1 for the initiator, nothing for the responder.
  public func start() -> [UInt8]? {
    precondition(state == .idle)
    state = .running
    guard pattern.messages[0].sender == role else { return nil }
    return try! send()
  }

  /// The message type the state machine waits for next.
  public var expectedMessage: HandshakeMessageType? {
    guard state == .running, nextMessage < pattern.messages.count else { return nil }
    let message = pattern.messages[nextMessage]
    return message.sender == role ? nil : message.type
  }

  /// Work that does not depend on the peer's next message, for the caller to do while it waits
  /// for it (before a read that would block), so that the work is not in the way once it arrives:
  /// - OpenSSL's one-time set-up of every algorithm (CryptoPreparation): otherwise a side meets
  ///   that cost in the middle of the handshake, in its first frame or key derivation;
  /// - in version 2, the initiator's `se` DH (§11.3), which needs only R1's ephemeral key but is
  ///   mixed after R2 is read: computed while the responder builds R2.
  /// It changes no byte on the wire and no check (§11.5): `mix` uses the DH computed here only
  /// for the key it was computed with, and treats an all-zero one exactly as its own.
  public func prepareForPeerMessage() {
    guard let next = expectedMessage else { return }
    CryptoPreparation.prepareAlgorithms()
    if role == .initiator, precomputedSE == nil, let localStatic, let peerEphemeral,
      pattern.messages[nextMessage...].contains(where: { $0.sender == .initiator && $0.tokens.contains(.se) })
    {
      precomputedSE = (peerEphemeral, localStatic.sharedSecret(with: peerEphemeral))
    }
  }

  /// The verification code (§4.6), as soon as both ephemeral keys are known: a side that asks its
  /// user whether to accept an unknown peer shows it with the peer's key.
  public var verificationCode: String? {
    guard let peerEphemeral else { return nil }
    return KeySchedule.verificationCode(
      initiatorPublicKey: role == .initiator ? ephemeral.publicKey : peerEphemeral,
      responderPublicKey: role == .initiator ? peerEphemeral : ephemeral.publicKey, labels: labels)
  }

  /// §3.5 steps 2–5 for the next message: its body length from its header.
  public func bodyLength(header: [UInt8]) throws -> Int {
    guard let expected = expectedMessage else { throw HandshakeError.malformed("message after the end") }
    return try HandshakeMessage.bodyLength(
      header: header, expecting: expected, isFirst: nextMessage <= 1, pattern: pattern)
  }

  /// Processes one complete message (header and body) from the peer and returns the reply to
  /// send, if any. Any error leaves the machine `failed`, with no keys.
  public func receive(_ message: [UInt8]) throws -> [UInt8]? {
    guard let expected = expectedMessage else { throw HandshakeError.malformed("message after the end") }
    do {
      guard message.count >= HandshakeMessage.headerSize else { throw HandshakeError.truncated }
      let length = try HandshakeMessage.bodyLength(
        header: Array(message.prefix(HandshakeMessage.headerSize)), expecting: expected, isFirst: nextMessage <= 1,
        pattern: pattern)
      guard message.count == HandshakeMessage.headerSize + length else {
        throw message.count < HandshakeMessage.headerSize + length
          ? HandshakeError.truncated : HandshakeError.malformed("message longer than its header says")
      }
      try read(message, pattern.messages[nextMessage])
      nextMessage += 1
      if nextMessage == pattern.messages.count {
        try complete()
        return nil
      }
      let reply = try send()
      if nextMessage == pattern.messages.count { try complete() }
      return reply
    } catch {
      state = .failed
      mixedSecrets = nil
      handshakePRK = nil
      precomputedSE = nil
      throw error
    }
  }

  // MARK: building a message (PROTOCOL.md §3.4, §11.2)

  /// Builds this side's next message, token by token.
  private func send() throws -> [UInt8] {
    let message = pattern.messages[nextMessage]
    precondition(message.sender == role)
    let messageStart = transcriptHash
    var body: [UInt8] = []
    var response: [UInt8]?
    for token in message.tokens {
      switch token {
      case .version: body.append(pattern.version)
      case .commitment: body += commitment(to: ephemeral.publicKey)
      case .ephemeral, .revealEphemeral: body += ephemeral.publicKey
      case .challenge: body += randomness.challenge
      case .ee, .es, .se: try mix(token, messageStart: messageStart)
      case .nameFrame: body += try sealFrame(localName)
      case .identityFrame: body += try sealFrame(shownStaticKey + localName)
      case .response:
        // The response covers everything before it, header included (§4.4): it comes last.
        let header = HandshakeMessage.header(message.type, bodyCount: body.count + HandshakeMessage.responseSize)
        absorb(header + body)
        response = try makeResponse(role: role)
      }
    }
    nextMessage += 1
    if let response {
      absorb(response)
      return HandshakeMessage.header(message.type, bodyCount: body.count + response.count) + body + response
    }
    let bytes = HandshakeMessage.header(message.type, bodyCount: body.count) + body
    absorb(bytes)
    return bytes
  }

  /// The transcript chain (§4.4): the first message is hashed with the protocol label, every
  /// later piece onto the hash so far.
  private func absorb(_ piece: [UInt8]) {
    transcriptHash = SHA256.hash((transcriptHash.isEmpty ? labels.transcript : transcriptHash) + piece)
  }

  /// §4.1: SHA-256(label ‖ E).
  private func commitment(to publicKey: [UInt8]) -> [UInt8] {
    SHA256.hash(labels.initiatorKeyCommitment + publicKey)
  }

  /// Version 1's commitment, for callers that build messages by hand.
  static func commitment(to initiatorPublicKey: [UInt8]) -> [UInt8] {
    SHA256.hash(HandshakeLabels.initiatorKeyCommitment + initiatorPublicKey)
  }

  /// One DH of the pattern, mixed into the handshake secret; an all-zero output (a key of low
  /// order) is refused before anything is derived from it (§3.5 H2, K2; §11.4).
  private func mix(_ token: HandshakePattern.Token, messageStart: [UInt8]) throws {
    let initiatorSide = role == .initiator
    let (own, peer): (X25519PrivateKey, [UInt8]?)
    switch token {
    case .ee: (own, peer) = (ephemeral, peerEphemeral)
    case .es: (own, peer) = initiatorSide ? (ephemeral, peerStaticKey?.bytes) : (localStatic!, peerEphemeral)
    case .se: (own, peer) = initiatorSide ? (localStatic!, peerEphemeral) : (ephemeral, peerStaticKey?.bytes)
    default: preconditionFailure("not a DH token")
    }
    guard let peer else { throw HandshakeError.invalidPublicKey }
    if token == .se, initiatorSide, let precomputed = precomputedSE, precomputed.peerEphemeral == peer {
      precomputedSE = nil
      guard let shared = precomputed.shared else { throw HandshakeError.invalidPublicKey }
      mixedSecrets = mixedSecrets.map { $0.concatenating(shared) } ?? shared
    } else {
      // The DH output goes straight into the new buffer of every output so far: one secret
      // buffer per DH, not two (each is locked memory, a few system calls to make and free).
      let previous = mixedSecrets?.count ?? 0
      let mixed = SecretBytes(count: previous + X25519PrivateKey.keySize)
      let derived = mixed.withUnsafeMutableBytes { out in
        mixedSecrets?.withUnsafeBytes { out.copyMemory(from: $0) }
        return own.deriveSharedSecret(with: peer, into: UnsafeMutableRawBufferPointer(rebasing: out[previous...]))
      }
      guard derived else { throw HandshakeError.invalidPublicKey }
      mixedSecrets = mixed
    }
    mixSalt = messageStart
    handshakePRK = nil
  }

  /// The handshake secret for the DHs mixed so far (§4.2, §11.3).
  private func currentPRK() throws -> SecretBytes {
    if let handshakePRK { return handshakePRK }
    let prk = try KeySchedule.extract(sharedSecret: mixedSecrets!, psk: psk, transcriptHash: mixSalt)
    handshakePRK = prk
    return prk
  }

  /// This side's name frame (or identity frame), under its handshake keys.
  private func sealFrame(_ plaintext: [UInt8]) throws -> [UInt8] {
    let keys = try KeySchedule.handshakeFrameKeys(prk: currentPRK(), role: role, labels: labels)
    return try FrameSealer(keys: keys, fixedIVs: [randomness.nameFrameIV]).seal(plaintext, isFinal: true)
  }

  /// The response of `sender` over the transcript hash so far (§4.4, §11.3).
  private func makeResponse(role sender: Role) throws -> [UInt8] {
    let key: SecretBytes
    switch pattern.responseKeys {
    case .preSharedKey: key = try KeySchedule.responseKey(psk: psk!, role: sender, labels: labels)
    case .handshakeSecret:
      key = try KeySchedule.expand(
        currentPRK(), sender == .initiator ? labels.initiatorResponseKey : labels.responderResponseKey)
    }
    return try HMACSHA256(key: key).authenticate(
      sender == .initiator ? labels.initiatorResponse : labels.responderResponse, transcriptHash)
  }

  /// Version 1's response, for callers that build messages by hand.
  static func response(psk: SecretBytes, role: Role, transcriptHash: [UInt8]) throws -> [UInt8] {
    let key = try KeySchedule.responseKey(psk: psk, role: role)
    let label = role == .initiator ? HandshakeLabels.initiatorResponse : HandshakeLabels.responderResponse
    return try HMACSHA256(key: key).authenticate(label, transcriptHash)
  }

  // MARK: reading a message: the order of checks (PROTOCOL.md §3.5, §11.4)

  private func read(_ message: [UInt8], _ spec: HandshakePattern.Message) throws {
    let messageStart = transcriptHash
    let hasResponse = spec.tokens.last == .response
    let bodyEnd = message.count - (hasResponse ? HandshakeMessage.responseSize : 0)
    // The frame, if any, is what the fields of fixed size (the response included) leave.
    let frameSize = message.count - HandshakeMessage.headerSize - HandshakePattern.fixedSize(of: spec)
    var offset = HandshakeMessage.headerSize
    var frame: (bytes: [UInt8], isIdentity: Bool)?
    func take(_ count: Int) -> [UInt8] {
      defer { offset += count }
      return Array(message[offset..<(offset + count)])
    }
    for token in spec.tokens {
      switch token {
      case .version:
        // §3.5 H1.
        let version = take(1)[0]
        guard version == pattern.version else {
          throw HandshakeError.unsupportedVersion(version, own: pattern.version)
        }
      case .commitment: peerCommitment = take(32)
      case .ephemeral: peerEphemeral = take(32)
      case .revealEphemeral:
        // §3.5 K1: the key must be the one committed to, before anything is computed from it.
        let key = take(32)
        guard ConstantTime.equals(commitment(to: key), peerCommitment!) else {
          throw HandshakeError.authenticationFailed("the initiator's key does not match its commitment")
        }
        peerEphemeral = key
      case .challenge: offset += 32
      case .ee, .es, .se: try mix(token, messageStart: messageStart)
      case .nameFrame, .identityFrame:
        frame = (take(frameSize), token == .identityFrame)
        // Version 2: the frame holds the peer's static key, which the next DH needs (§11.4).
        if pattern.responseKeys == .handshakeSecret { try openFrame(frame!.bytes, isIdentity: frame!.isIdentity) }
      case .response:
        absorb(Array(message[0..<bodyEnd]))
        let response = Array(message[bodyEnd...])
        try checkResponse(response)
        // Version 1: the response is checked before the name frame is opened (§3.5 A1, A2).
        if let frame, pattern.responseKeys == .preSharedKey { try openFrame(frame.bytes, isIdentity: frame.isIdentity) }
        if frame != nil { try checkPeer() }
        absorb(response)
        return
      }
    }
    absorb(message)
  }

  /// §3.5 A1: the peer's response, compared in constant time. A version 1 responder compares it
  /// under every candidate key (§3.9).
  private func checkResponse(_ response: [UInt8]) throws {
    if pattern.responseKeys == .preSharedKey && role == .responder { return try selectKey(response: response) }
    guard ConstantTime.equals(try makeResponse(role: role == .initiator ? .responder : .initiator), response) else {
      throw HandshakeError.authenticationFailed(
        pattern.usesIdentities
          ? "the peer's response does not verify (it does not hold the key it shows, or the pre-shared key differs, or tampered)"
          : "the peer's response does not verify (different key, or tampered)")
    }
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
        labels.initiatorResponse, transcriptHash)
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
    handshakePRK = nil
  }

  /// §3.5 A2–A4 (§11.4 I1–I3 for an identity frame): the peer's frame must verify under the
  /// peer's handshake keys; it holds a valid name, after a static key of no low order.
  private func openFrame(_ bytes: [UInt8], isIdentity: Bool) throws {
    let peerRole: Role = role == .initiator ? .responder : .initiator
    let opener = try FrameOpener(
      keys: try KeySchedule.handshakeFrameKeys(prk: currentPRK(), role: peerRole, labels: labels))
    var plaintext: [UInt8]
    let what = isIdentity ? "identity frame" : "name frame"
    do {
      let (opened, frame) = try opener.open(frame: bytes)
      // §3.5 A3: one final data frame (a receipt frame, PROTOCOL.md §6.5, is for sessions only).
      guard frame.isFinal, frame.sequence == 0, frame.type == .data else {
        throw HandshakeError.malformed("\(what) type or flags")
      }
      plaintext = opened
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
      throw HandshakeError.authenticationFailed("the peer's \(what) does not verify (\(why))")
    }
    if isIdentity {
      // §11.4 I3: the static key first; a key of low order would make every DH with it public.
      guard plaintext.count > X25519PrivateKey.keySize else {
        throw HandshakeError.malformed("the peer's identity frame holds no name")
      }
      guard let key = try? PublicKey(bytes: Array(plaintext.prefix(X25519PrivateKey.keySize))) else {
        throw HandshakeError.invalidPublicKey
      }
      peerStaticKey = key
      plaintext.removeFirst(X25519PrivateKey.keySize)
    }
    guard SessionName.isValid(plaintext) else { throw HandshakeError.malformed("the peer's name is not a valid name") }
    peerName = plaintext
  }

  /// §3.5 A5, once the peer's response has verified: its name, then (version 2) its static key,
  /// which the caller pins.
  private func checkPeer() throws {
    // A peer that gives this side's own name is this side's own other role (one key for both, and
    // the user's initiator reached the user's responder), or someone posing as us.
    guard peerName != localName else {
      throw HandshakeError.authenticationFailed(
        "the peer authenticated with this side's own name '\(String(decoding: peerName, as: UTF8.self))'")
    }
    // The name the holder of this key must give, if one is set. The responder checks it before it
    // answers, the initiator before it accepts the session.
    let key = keys[selectedKeyIndex!]
    if let expectedName = key.expectedName, peerName != expectedName {
      let claimed = String(decoding: peerName, as: UTF8.self)
      let wanted = String(decoding: expectedName, as: UTF8.self)
      throw HandshakeError.authenticationFailed(
        key.label.map { "the peer authenticated with the key of \($0) but named itself '\(claimed)', not '\(wanted)'" }
          ?? "the peer named itself '\(claimed)', not '\(wanted)'")
    }
    if let peerStaticKey, let acceptPeerKey { try acceptPeerKey(peerStaticKey, peerName) }
  }

  /// §4.5: session keys from every DH output and the PSK, salted with the final transcript hash.
  private func complete() throws {
    let prk = try KeySchedule.extract(sharedSecret: mixedSecrets!, psk: psk, transcriptHash: transcriptHash)
    let initiatorToResponder = FrameKeys(
      encryption: try KeySchedule.expand(prk, labels.initiatorToResponderEncryption),
      authentication: try KeySchedule.expand(prk, labels.initiatorToResponderAuthentication))
    let responderToInitiator = FrameKeys(
      encryption: try KeySchedule.expand(prk, labels.responderToInitiatorEncryption),
      authentication: try KeySchedule.expand(prk, labels.responderToInitiatorAuthentication))
    // The session id is public (it names the session in logs), so it leaves the secret buffer.
    let sessionID = try KeySchedule.expand(prk, labels.sessionID, count: 16).withUnsafeBytes { Array($0) }
    result = SessionSecrets(
      role: role, sessionID: sessionID, localName: localName, peerName: peerName, transcriptHash: transcriptHash,
      verificationCode: verificationCode!,
      send: role == .initiator ? initiatorToResponder : responderToInitiator,
      receive: role == .initiator ? responderToInitiator : initiatorToResponder,
      continuationSecret: try KeySchedule.expand(prk, labels.continuation))
    mixedSecrets = nil
    handshakePRK = nil
    state = .complete
  }
}
