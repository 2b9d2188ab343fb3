import SecureChatCrypto
import SecureChatProtocol

/// The fixed keys and peers the targets use: the same as the vectors in docs/vectors, so that the
/// seeds made from the vectors get past the checks that need the right key.
enum Fixtures {
  static func bytes(_ hex: String) -> [UInt8] { [UInt8](hexString: hex)! }

  // MARK: handshake (docs/vectors/handshake, PROTOCOL.md §8)

  static let psk = SecretBytes(copying: bytes("a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"))

  static func initiator() -> Handshake {
    let randomness = Handshake.Randomness(
      ephemeralSecret: SecretBytes(
        copying: bytes("1f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8")),
      challenge: bytes("5152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f70"),
      nameFrameIV: bytes("e1e2e3e4e5e6e7e8e9eaebecedeeeff0"))
    return try! Handshake(role: .initiator, psk: psk, localName: Array("alice".utf8), randomness: randomness)
  }

  static func responder() -> Handshake {
    let randomness = Handshake.Randomness(
      ephemeralSecret: SecretBytes(
        copying: bytes("3e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb02091017")),
      challenge: bytes("52535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f7071"),
      nameFrameIV: bytes("e2e3e4e5e6e7e8e9eaebecedeeeff0f1"))
    return try! Handshake(role: .responder, psk: psk, localName: Array("bob".utf8), randomness: randomness)
  }

  /// The good exchange between the two fixed peers: I1, R1, I2, R2, and both results.
  static let goodHandshake: (messages: [[UInt8]], initiator: SessionSecrets, responder: SessionSecrets) = {
    let initiator = Fixtures.initiator()
    let responder = Fixtures.responder()
    _ = responder.start()
    let i1 = initiator.start()!
    let r1 = try! responder.receive(i1)!
    let i2 = try! initiator.receive(r1)!
    let r2 = try! responder.receive(i2)!
    precondition(try! initiator.receive(r2) == nil)
    return ([i1, r1, i2, r2], initiator.result!, responder.result!)
  }()

  /// A responder that has started (waits for I1), or has answered the good I1 (waits for I2);
  /// an initiator that has sent I1 (waits for R1), or has answered the good R1 (waits for R2).
  static func machine(waitingFor stage: HandshakeMessageType) -> Handshake {
    let messages = goodHandshake.messages
    switch stage {
    case .initiatorHello:
      let machine = responder()
      _ = machine.start()
      return machine
    case .responderHello:
      let machine = initiator()
      _ = machine.start()
      return machine
    case .initiatorAuth:
      let machine = responder()
      _ = machine.start()
      _ = try! machine.receive(messages[0])
      return machine
    case .responderAuth, .abort, .initiatorIdentity, .responderConfirmation:
      let machine = initiator()
      _ = machine.start()
      _ = try! machine.receive(messages[1])
      return machine
    }
  }

  /// What a peer holding the key needs to answer the fixed peers with a name frame of its own
  /// (values of docs/vectors/handshake/good-handshake.vector; PROTOCOL.md §4.4): the transcript
  /// hash before its message, its handshake authentication key, its response key and label.
  struct AuthSigner: @unchecked Sendable {  // one thread: libFuzzer runs inputs one at a time
    let transcriptHash: [UInt8]
    let frameMAC: HMACSHA256
    let responseMAC: HMACSHA256
    let label: [UInt8]
    /// Where the name frame starts: after the header, and for I2 the revealed key.
    let frameOffset: Int

    /// `message` (header, key for I2, name frame) with its header length, the name frame's tag and
    /// CRC set, and the response over the transcript appended.
    func sign(_ message: [UInt8]) -> [UInt8] {
      var message = message
      guard message.count >= frameOffset else { return message }
      let bodyCount = message.count - HandshakeMessage.headerSize + HandshakeMessage.responseSize
      if bodyCount <= 0xffff { message[1...2] = [UInt8(bodyCount >> 8), UInt8(bodyCount & 0xff)] }
      Fixtures.fixFrames(&message, from: frameOffset, mac: frameMAC)
      return message + responseMAC.authenticate(label, SHA256.hash(transcriptHash + message))
    }
  }

  static let initiatorSigner = AuthSigner(
    transcriptHash: bytes("2697c9883aab6b5f973812908421ca95e966dbd38d7e3265bb287066264f59eb"),
    frameMAC: try! HMACSHA256(
      key: SecretBytes(copying: bytes("19a1c684b12782dea6a9b65c1bc760b1d88f9f53448a657761da4c7ae9d1a956"))),
    responseMAC: try! HMACSHA256(
      key: SecretBytes(copying: bytes("1f8605302dc643a3981145e0a00bfc805cbee45f4caba20efd2c51a62cccb226"))),
    label: Array("SecureChat v1 initiator response".utf8),
    frameOffset: HandshakeMessage.headerSize + HandshakeMessage.publicKeySize)

  static let responderSigner = AuthSigner(
    transcriptHash: bytes("4447566bb8088e3453063a0980922deeb99109e65f843df570801dccff1255df"),
    frameMAC: try! HMACSHA256(
      key: SecretBytes(copying: bytes("4acccbc33597efb540f4865919618c2dd1c75e853d459b219d6dcb4e5dcf454d"))),
    responseMAC: try! HMACSHA256(
      key: SecretBytes(copying: bytes("3aa5c16b819bc248daaaa728d4f5bb5dd29ddd8f2f4c064cc7e966fa4d8398ae"))),
    label: Array("SecureChat v1 responder response".utf8),
    frameOffset: HandshakeMessage.headerSize)

  // MARK: a responder with several keys (docs/vectors/handshake/*responder-keys*, PROTOCOL.md §3.9)

  /// The keys and names of its peers file entries; a fourth key it does not know.
  static let responderKeys: [(psk: [UInt8], name: [UInt8])] = [
    (bytes("31363b40454a4f54595e63686d72777c81868b90959a9fa4a9aeb3b8bdc2c7cc"), Array("alice".utf8)),
    (bytes("62676c71767b80858a8f94999ea3a8adb2b7bcc1c6cbd0d5dadfe4e9eef3f8fd"), Array("carol".utf8)),
    (bytes("93989da2a7acb1b6bbc0c5cacfd4d9dee3e8edf2f7fc01060b10151a1f24292e"), Array("dave".utf8)),
  ]
  static let unknownKey = bytes("a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf")
  static let multiKeyResponderSecret = bytes("e8f3fe09141f2a35404b56616c77828d98a3aeb9c4cfdae5f0fb06111c27323d")
  /// The vectors' I1, and their initiator's ephemeral key, which it commits to.
  static let multiKeyI1 = bytes(
    "01004101b90ab8499cb1eff1750ffd8ae9251658c626876b129aed0a9be9d2c07210f908"
      + "7778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f90919293949596")
  static let multiKeyInitiatorKey = bytes("5eeb27648fa109ac0135d12cdceb3175ce05f1739006e5f991c002dd7415823c")

  /// A responder with the three keys, each entry's name required, padded with random keys to
  /// `multiKeyCandidates` candidates as a peers file pads them (PROTOCOL.md §3.9; fewer than
  /// PeersFile.maxEntries, to keep the fuzzer fast), that has answered `multiKeyI1`, and its
  /// answer R1.
  static let multiKeyCandidates = 8
  static func multiKeyResponder() -> (machine: Handshake, r1: [UInt8]) {
    let keys = responderKeys.map {
      Handshake.PeerKey(psk: SecretBytes(copying: $0.psk), expectedName: $0.name, label: "entry")
    }
    let randomness = Handshake.Randomness(
      ephemeralSecret: SecretBytes(copying: multiKeyResponderSecret),
      challenge: bytes("78797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f9091929394959697"),
      nameFrameIV: bytes("c8c9cacbcccdcecfd0d1d2d3d4d5d6d7"))
    let machine = try! Handshake(
      role: .responder, keys: keys, localName: Array("bob".utf8), paddedTo: multiKeyCandidates, randomness: randomness)
    _ = machine.start()
    return (machine, try! machine.receive(multiKeyI1)!)
  }

  /// The initiator's side of I2 as PROTOCOL.md §3.3 and §4 describe it, written from the
  /// document with the library's primitives only: what a peer holding `psk` sends the responder
  /// above, with `frames` (name frames made by `nameFrames`) after its ephemeral key.
  struct MultiKeyInitiator {
    let transcriptHash: [UInt8]
    let sharedSecret: SecretBytes

    init() {
      let r1 = Fixtures.multiKeyResponder().r1
      let th1 = SHA256.hash(Array("SecureChat v1 handshake".utf8) + Fixtures.multiKeyI1)
      transcriptHash = SHA256.hash(th1 + r1)
      // DH(EI, ER) is the same from either side: the responder's secret and the initiator's key.
      sharedSecret = try! X25519PrivateKey(rawRepresentation: SecretBytes(copying: Fixtures.multiKeyResponderSecret))
        .sharedSecret(with: Fixtures.multiKeyInitiatorKey)!
    }

    /// §4.2: the initiator's handshake frame keys under `psk`.
    func frameKeys(psk: [UInt8]) -> FrameKeys {
      let prk = try! HKDFSHA256.derive(
        inputKeyMaterial: sharedSecret.concatenating(SecretBytes(copying: psk)), salt: transcriptHash, info: [],
        outputCount: 32, mode: .extractOnly)
      func expand(_ label: String) -> SecretBytes {
        try! HKDFSHA256.derive(
          inputKeyMaterial: prk, salt: [], info: Array(label.utf8), outputCount: 32, mode: .expandOnly)
      }
      return FrameKeys(
        encryption: expand("SecureChat v1 handshake initiator encryption"),
        authentication: expand("SecureChat v1 handshake initiator authentication"))
    }

    /// The name frames: `name` in one final frame, or in a frame that is not final, then
    /// (if `followed`) an empty final one.
    func nameFrames(psk: [UInt8], name: [UInt8], final: Bool, followed: Bool) -> [UInt8] {
      let sealer = try! FrameSealer(
        keys: frameKeys(psk: psk), fixedIVs: [[UInt8](repeating: 0x5c, count: 16), [UInt8](repeating: 0xc5, count: 16)])
      var frames = sealer.seal(name, isFinal: final)
      if !final && followed { frames += sealer.seal([], isFinal: true) }
      return frames
    }

    /// I2 = header ‖ EI ‖ frames ‖ HMAC(KI, label ‖ TH3), TH3 = H(TH2 ‖ header ‖ EI ‖ frames).
    func i2(psk: [UInt8], frames: [UInt8]) -> [UInt8] {
      let body = Fixtures.multiKeyInitiatorKey + frames
      let message =
        HandshakeMessage.header(.initiatorAuth, bodyCount: min(0xffff, body.count + HandshakeMessage.responseSize))
        + body
      let responseKey = try! HKDFSHA256.derive(
        inputKeyMaterial: SecretBytes(copying: psk), salt: [], info: Array("SecureChat v1 initiator response key".utf8),
        outputCount: 32)
      let th3 = SHA256.hash(transcriptHash + message)
      return message
        + (try! HMACSHA256(key: responseKey)).authenticate(Array("SecureChat v1 initiator response".utf8), th3)
    }
  }

  static let multiKeyInitiator = MultiKeyInitiator()

  // MARK: session streams (docs/vectors/session): the responder's side, receiving

  static let sessionReceiveEncryption = bytes("2fa247c8fcd611ba80d0b0a80f040083d74c87294fb5f84d779f4ff4044e41d6")
  static let sessionReceiveAuthentication = bytes("48c3133aed7b43d57316b51d507524aff9cf135202a1a4f6fe0798b91b2a5340")

  /// A session file (PROTOCOL.md §5) with the receive keys of the session vectors, parsed: the
  /// public way to get a `SessionSecrets`.
  static let session: SessionSecrets = {
    var file = SessionFile.magic + [SessionFile.version, Handshake.Role.responder.rawValue]
    file += [UInt8](repeating: 0x11, count: 16) + [UInt8](repeating: 0x22, count: 32)
    file += [UInt8](repeating: 0x33, count: 64)
    file += sessionReceiveEncryption + sessionReceiveAuthentication
    file += [3] + Array("bob".utf8) + [5] + Array("alice".utf8) + Array("123 456 789 012".utf8)
    return try! file.withUnsafeBytes { try SessionFile.parse($0) }
  }()

  nonisolated(unsafe) static let sessionMAC = try! HMACSHA256(key: SecretBytes(copying: sessionReceiveAuthentication))

  // MARK: sealed files (docs/vectors/sealed-file)

  /// Bob's identity and Alice's public key in docs/vectors/recipient-file (FORMATS.md §12.2).
  static let recipientIdentity = try! RecipientFile.Identity(
    secret: SecretBytes(copying: (0..<32).map { UInt8(0x40 + $0) }))
  static let senderPublicKey = try! PublicKey(identitySecret: SecretBytes(copying: (0..<32).map { UInt8(0x20 + $0) }))
  static let fileKey = SecretBytes(copying: bytes("05121f2c394653606d7a8794a1aebbc8d5e2effc091623303d4a5764717e8b98"))

  // MARK: session logs (docs/vectors/log)

  static let logVerifyKey = SecretBytes(copying: (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 11 &+ 0x23) })
  /// K(0), K(1), …: the key of each entry, for the tag fix-up of the log-verify target.
  static let logKeys: [SecretBytes] = {
    var keys = [logVerifyKey]
    for _ in 1..<maxFixedLogLines { keys.append(SessionLog.evolve(keys.last!)) }
    return keys
  }()
  static let maxFixedLogLines = 256
}

// MARK: fix-ups: valid checksums and tags over fuzzed content, to reach the checks behind them

extension Fixtures {
  /// Recomputes the tag and the CRC-32 of each whole frame from `offset` on (FORMATS.md §2.1),
  /// as a sender holding `mac`'s key would, so that the checks after the tag see fuzzed fields.
  static func fixFrames(_ bytes: inout [UInt8], from offset: Int, mac: HMACSHA256) {
    var start = offset
    while bytes.count - start >= RecordLayer.headerSize {
      let length = bytes[start + 12..<start + 16].reduce(0) { $0 << 8 | Int($1) }
      guard
        length >= RecordLayer.minCiphertextCount, length <= RecordLayer.maxCiphertextCount,
        length % AES256CBC.blockSize == 0, start + RecordLayer.frameOverhead + length <= bytes.count
      else { return }
      let tagStart = start + RecordLayer.headerSize + length
      let tag = mac.authenticate(Array(bytes[start..<tagStart]))
      bytes.replaceSubrange(tagStart..<tagStart + RecordLayer.tagSize, with: tag)
      let crcStart = tagStart + RecordLayer.tagSize
      let crc = CRC32.checksum(Array(bytes[start..<crcStart]))
      bytes.replaceSubrange(
        crcStart..<crcStart + 4, with: (0..<4).map { UInt8(truncatingIfNeeded: crc >> (24 - 8 * $0)) })
      start = crcStart + RecordLayer.crcSize
    }
  }

  /// A binary sealed file with its header tag and frame tags recomputed under `fileKey` and the
  /// salt it carries (FORMATS.md §3.1, §3.3).
  static func fixSealedFile(_ file: inout [UInt8]) {
    guard file.count >= SealedFile.headerSize else { return }
    let keys = try! SealedFile.deriveKeys(fileKey: fileKey, salt: Array(file[8..<40]))
    file.replaceSubrange(40..<72, with: try! HMACSHA256(key: keys.header).authenticate(Array(file[0..<40])))
    fixFrames(&file, from: SealedFile.headerSize, mac: try! HMACSHA256(key: keys.frames.authentication))
  }

  /// Each complete line that parses gets the tag it would have as entry number (its position)
  /// in a log chained from `logVerifyKey` (FORMATS.md §9.3), given the lines before it.
  static func fixLogTags(_ log: inout [UInt8]) {
    var previous = SessionLog.initialPreviousTag
    var start = 0
    var position = 0
    while position < maxFixedLogLines, let newline = log[start...].firstIndex(of: 0x0a) {
      let tagHex = SessionLog.tagSize * 2
      let tag: [UInt8]? = log[start..<newline].withUnsafeBytes { line in
        guard let parsed = try? LogLine(line, lineNumber: position + 1) else { return nil }
        return try? SessionLog.tag(body: parsed.body, previousTag: previous, key: logKeys[position])
      }
      if let tag {
        log.replaceSubrange(newline - tagHex..<newline, with: Array(tag.hexString.utf8))
        previous = tag
      }
      start = newline + 1
      position += 1
    }
  }
}
