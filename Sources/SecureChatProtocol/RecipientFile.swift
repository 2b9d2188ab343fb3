import SecureChatCrypto

/// Sealed file version 2 (docs/FORMATS.md §12.2): a file sealed to recipients' public keys, with
/// an anonymous or an authenticated sender. Only the header and the trailer are new; the frames
/// are those of version 1 (§3.2), under keys derived from a random file key.
///
///     0  magic "SCSEAL" (6)   6 version 0x02 (1)   7 flags (1)   8 ephemeral public key E (32)
///     40 n (1)                41 n stanzas of F bytes            41+nF header tag (32)
public enum RecipientFile {
  public static let version: UInt8 = 2
  /// §12.2 byte 7: it decides the stanzas' size, so it is read before anything else.
  public enum SenderMode: UInt8, Sendable {
    case anonymous = 0x00
    case authenticated = 0x01
  }
  /// §12.2: the count is one byte, and more stanzas would only make headers an attacker can inflate.
  public static let maxRecipients = 64
  public static let fileKeySize = 32
  public static let proofSize = 32
  static let ephemeralRange = 8..<40
  static let countOffset = 40
  static let stanzasOffset = 41

  static let headerLabel = Array("SecureChat v2 file header".utf8)
  static let encryptionLabel = Array("SecureChat v2 file encryption".utf8)
  static let authenticationLabel = Array("SecureChat v2 file authentication".utf8)
  static let stanzaEncryptionLabel = Array("SecureChat v2 recipient stanza encryption".utf8)
  static let stanzaAuthenticationLabel = Array("SecureChat v2 recipient stanza authentication".utf8)
  static let senderAuthenticationLabel = Array("SecureChat v2 sender authentication".utf8)
  static let proofLabel = Array("SecureChat v2 sender proof".utf8)

  /// The plaintext of a stanza: the file key, and the sender's public key when there is one.
  static func stanzaPlaintextCount(_ mode: SenderMode) -> Int {
    mode == .anonymous ? fileKeySize : fileKeySize + X25519PrivateKey.keySize
  }

  /// F of §12.2: 116 bytes (anonymous) or 148 (authenticated), one record-layer frame.
  public static func stanzaSize(_ mode: SenderMode) -> Int {
    RecordLayer.frameSize(plaintextCount: stanzaPlaintextCount(mode))
  }

  public static func headerSize(recipients count: Int, mode: SenderMode) -> Int {
    stanzasOffset + count * stanzaSize(mode) + HMACSHA256.tagSize
  }

  // MARK: derivations (§12.2)

  /// Khdr, Kenc, Kmac from the file key, salted with E.
  static func deriveFileKeys(fileKey: SecretBytes, ephemeral: [UInt8]) throws -> SealedFile.Keys {
    func derive(_ label: [UInt8]) throws -> SecretBytes {
      try HKDFSHA256.derive(inputKeyMaterial: fileKey, salt: ephemeral, info: label, outputCount: 32)
    }
    return SealedFile.Keys(
      frames: FrameKeys(encryption: try derive(encryptionLabel), authentication: try derive(authenticationLabel)),
      header: try derive(headerLabel))
  }

  /// The stanza keys of recipient R: one extract over Z salted with E || R (so that a stanza is
  /// bound to both public keys), two expansions.
  static func stanzaKeys(shared: SecretBytes, ephemeral: [UInt8], recipient: [UInt8]) throws -> FrameKeys {
    let prk = try HKDFSHA256.derive(
      inputKeyMaterial: shared, salt: ephemeral + recipient, info: [], outputCount: 32, mode: .extractOnly)
    func expand(_ label: [UInt8]) throws -> SecretBytes {
      try HKDFSHA256.derive(inputKeyMaterial: prk, salt: [], info: label, outputCount: 32, mode: .expandOnly)
    }
    return FrameKeys(
      encryption: try expand(stanzaEncryptionLabel), authentication: try expand(stanzaAuthenticationLabel))
  }

  /// Kauth of one recipient: X25519(s, R) makes it the sender's; Z ties it to this file's E.
  static func senderAuthenticationKey(
    senderShared: SecretBytes, ephemeralShared: SecretBytes, ephemeral: [UInt8], recipient: [UInt8],
    sender: [UInt8]
  ) throws -> SecretBytes {
    try HKDFSHA256.derive(
      inputKeyMaterial: senderShared.concatenating(ephemeralShared), salt: ephemeral + recipient + sender,
      info: senderAuthenticationLabel, outputCount: 32)
  }

  /// proof = HMAC(Kauth, "SecureChat v2 sender proof" || HDR || T).
  static func proof(key: SecretBytes, header: [UInt8], contentHash: [UInt8]) throws -> [UInt8] {
    try HMACSHA256(key: key).authenticate(proofLabel, header, contentHash)
  }

  /// An identity's key pair, for opening (and for sealing as the sender).
  public struct Identity: Sendable {
    public let secret: SecretBytes
    /// Always the public key of `secret`, except in tests that forge a sender.
    public let publicKey: PublicKey
    /// `secret` as OpenSSL's key, made once: making it computes the public key (a scalar
    /// multiplication, and on a tool's first use of X25519 most of OpenSSL's set-up), which
    /// `init(secret:)` needs anyway; opening and sealing use this one rather than make another.
    let key: X25519PrivateKey

    public init(secret: SecretBytes) throws {
      let key = try X25519PrivateKey(rawRepresentation: secret)
      self.secret = secret
      self.key = key
      publicKey = try PublicKey(bytes: key.publicKey)
    }

    /// For tests that forge a sender: `publicKey` need not be that of `secret`. (Making a key
    /// fails only when OpenSSL itself does.)
    init(secret: SecretBytes, publicKey: PublicKey) {
      self.secret = secret
      self.publicKey = publicKey
      key = try! X25519PrivateKey(rawRepresentation: secret)
    }
  }
}

/// T of §12.2: SHA-256 over the tags of all frames, in order. The frame tags are HMACs under Kmac,
/// so they bind every byte of the content; hashing 32 bytes per 64 KiB frame costs nothing.
public final class ContentHash {
  private let hash = SHA256()

  public init() {}

  /// Adds the tag of `frame`, one whole record-layer frame.
  public func add(frame: UnsafeRawBufferPointer) {
    let tagEnd = frame.count - RecordLayer.crcSize
    hash.update(UnsafeRawBufferPointer(rebasing: frame[(tagEnd - RecordLayer.tagSize)..<tagEnd]))
  }

  public func finalize() -> [UInt8] { hash.finalize() }
}

// MARK: - sealing

extension RecipientFile {
  /// The random inputs of one file, injectable so that vectors are reproducible.
  public struct Randomness {
    public var fileKey: SecretBytes
    public var ephemeralSecret: SecretBytes
    /// The IVs of the stanza frames, in stanza order; fresh ones when empty.
    public var stanzaIVs: [[UInt8]]
    /// `order[j]` is the index of the recipient of stanza j; a random permutation when nil.
    public var order: [Int]?

    public init(
      fileKey: SecretBytes = .random(count: RecipientFile.fileKeySize),
      ephemeralSecret: SecretBytes = .random(count: X25519PrivateKey.keySize), stanzaIVs: [[UInt8]] = [],
      order: [Int]? = nil
    ) {
      self.fileKey = fileKey
      self.ephemeralSecret = ephemeralSecret
      self.stanzaIVs = stanzaIVs
      self.order = order
    }
  }

  /// A header ready to write, the keys of the frames after it, and (authenticated sender) what
  /// makes the trailer once the frames' tags are known.
  public struct Sealing {
    public let header: [UInt8]
    public let keys: SealedFile.Keys
    /// Kauth of each stanza, in stanza order; empty for an anonymous sender.
    let proofKeys: [SecretBytes]

    public var isSenderAuthenticated: Bool { !proofKeys.isEmpty }

    /// The n proofs, in stanza order, over the header and T.
    public func trailer(contentHash: [UInt8]) throws -> [UInt8] {
      try proofKeys.flatMap { try RecipientFile.proof(key: $0, header: header, contentHash: contentHash) }
    }
  }

  /// The recipients with duplicates removed, in the order first given.
  public static func distinct(_ recipients: [PublicKey]) -> [PublicKey] {
    var seen = Set<PublicKey>()
    return recipients.filter { seen.insert($0).inserted }
  }

  /// Builds the header for `recipients` (1 to 64, distinct), from `sender` when given.
  public static func beginSealing(
    recipients: [PublicKey], sender: Identity?, randomness: Randomness = Randomness()
  ) throws -> Sealing {
    precondition((1...maxRecipients).contains(recipients.count) && distinct(recipients).count == recipients.count)
    let mode: SenderMode = sender == nil ? .anonymous : .authenticated
    let ephemeralKey = try X25519PrivateKey(rawRepresentation: randomness.ephemeralSecret)
    let ephemeral = ephemeralKey.publicKey
    let senderKey = sender?.key
    let stanzaPlaintext =
      sender.map { randomness.fileKey.concatenating(SecretBytes(copying: $0.publicKey.bytes)) }
      ?? randomness.fileKey
    let order = randomness.order ?? shuffled(recipients.count)
    precondition(order.sorted() == Array(0..<recipients.count))
    var header = SealedFile.magic + [version, mode.rawValue] + ephemeral + [UInt8(recipients.count)]
    var proofKeys: [SecretBytes] = []
    var ivs = Array(randomness.stanzaIVs.reversed())
    for index in order {
      let recipient = recipients[index].bytes
      // Never nil: PublicKey refuses the points of low order.
      guard let shared = ephemeralKey.sharedSecret(with: recipient) else {
        throw ProtocolError.badPublicKey("it is a point of low order, which no identity has")
      }
      let sealer = try FrameSealer(
        keys: try stanzaKeys(shared: shared, ephemeral: ephemeral, recipient: recipient),
        fixedIVs: ivs.popLast().map { [$0] } ?? [])
      var stanza = [UInt8](repeating: 0, count: stanzaSize(mode))
      let size = stanzaPlaintext.withUnsafeBytes { plaintext in
        stanza.withUnsafeMutableBytes { sealer.seal(plaintext, isFinal: true, into: $0.baseAddress!) }
      }
      precondition(size == stanza.count)
      header += stanza
      if let sender, let senderKey {
        guard let senderShared = senderKey.sharedSecret(with: recipient) else {
          throw ProtocolError.badPublicKey("it is a point of low order, which no identity has")
        }
        proofKeys.append(
          try senderAuthenticationKey(
            senderShared: senderShared, ephemeralShared: shared, ephemeral: ephemeral, recipient: recipient,
            sender: sender.publicKey.bytes))
      }
    }
    let keys = try deriveFileKeys(fileKey: randomness.fileKey, ephemeral: ephemeral)
    header += try HMACSHA256(key: keys.header).authenticate(header)
    return Sealing(header: header, keys: keys, proofKeys: proofKeys)
  }

  /// A uniformly random permutation of 0..<count (Fisher–Yates with unbiased draws), so that
  /// the order of the stanzas says nothing about the order of -r options.
  static func shuffled(_ count: Int) -> [Int] {
    var order = Array(0..<count)
    guard count > 1 else { return order }
    for i in stride(from: count - 1, to: 0, by: -1) {
      let bound = UInt32(i + 1)
      var draw: UInt32
      repeat {
        draw = SecureRandom.bytes(count: 4).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
      } while draw >= UInt32.max - UInt32.max % bound
      order.swapAt(i, Int(draw % bound))
    }
    return order
  }

  /// Seals a whole plaintext in memory (reference encoder for tests and vectors; the tool streams
  /// the same bytes through its two-thread pipeline).
  public static func seal(
    _ plaintext: [UInt8], recipients: [PublicKey], sender: Identity? = nil, randomness: Randomness = Randomness(),
    frameIVs: [[UInt8]] = []
  ) throws -> [UInt8] {
    let sealing = try beginSealing(recipients: recipients, sender: sender, randomness: randomness)
    var out = sealing.header
    let sealer = try FrameSealer(keys: sealing.keys.frames, fixedIVs: frameIVs)
    let contentHash = ContentHash()
    var offset = 0
    repeat {
      let count = min(SealedFile.chunkSize, plaintext.count - offset)
      let frame = sealer.seal(Array(plaintext[offset..<offset + count]), isFinal: offset + count == plaintext.count)
      frame.withUnsafeBytes { contentHash.add(frame: $0) }
      out += frame
      offset += count
    } while !sealer.isFinished
    if sealing.isSenderAuthenticated { out += try sealing.trailer(contentHash: contentHash.finalize()) }
    return out
  }
}

// MARK: - opening

extension RecipientFile {
  /// What a verified header gave: the file's keys, the sender it names and, for an authenticated
  /// sender, what checks the trailer.
  struct OpenedHeader {
    let keys: SealedFile.Keys
    let mode: SenderMode
    let recipientCount: Int
    let sender: PublicKey?
    /// The stanza that opened, whose proof is checked.
    let stanzaIndex: Int
    let proofKey: SecretBytes?
    let header: [UInt8]

    var trailerSize: Int { mode == .authenticated ? recipientCount * RecipientFile.proofSize : 0 }

    /// §12.2 step 5: proof_j against T, in constant time.
    func verifyTrailer(_ trailer: UnsafeRawBufferPointer, contentHash: [UInt8]) throws {
      guard let proofKey else { return }
      let start = stanzaIndex * RecipientFile.proofSize
      let message = RecipientFile.proofLabel + header + contentHash
      let valid = try message.withUnsafeBytes {
        try HMACSHA256(key: proofKey).verify(
          $0, expectedTag: UnsafeRawBufferPointer(rebasing: trailer[start..<start + RecipientFile.proofSize]))
      }
      guard valid else { throw ProtocolError.authenticationFailed("the sender's proof does not verify") }
    }
  }

  /// The size of the header that starts `prefix` (bytes 0–6 already checked), or nil while more
  /// bytes are needed: the flags first (they decide the stanza size), then the count.
  static func headerSize(of prefix: UnsafeRawBufferPointer, atEnd: Bool) throws -> (Int, SenderMode)? {
    func needMore() throws -> (Int, SenderMode)? {
      if atEnd { throw ProtocolError.truncated }
      return nil
    }
    guard prefix.count > 7 else { return try needMore() }
    guard let mode = SenderMode(rawValue: prefix[7]) else {
      throw ProtocolError.unsupported("sealed file flags \(prefix[7])")
    }
    guard prefix.count > countOffset else { return try needMore() }
    let count = Int(prefix[countOffset])
    guard (1...maxRecipients).contains(count) else {
      throw ProtocolError.malformed("\(count) recipient stanzas (1 to \(maxRecipients) are allowed)")
    }
    let size = headerSize(recipients: count, mode: mode)
    guard prefix.count >= size else { return try needMore() }
    return (size, mode)
  }

  /// §12.2 steps 1–4 (and the --from check) over a whole header of `size` bytes.
  static func openHeader(
    _ header: UnsafeRawBufferPointer, mode: SenderMode, identity: Identity, expectedSender: PublicKey?
  ) throws -> OpenedHeader {
    let ephemeral = Array(header[ephemeralRange])
    let count = Int(header[countOffset])
    let identityKey = identity.key
    // Step 1.
    guard let shared = identityKey.sharedSecret(with: ephemeral) else {
      throw ProtocolError.authenticationFailed("the file's ephemeral key is of low order")
    }
    // Step 2: every stanza is tried, so that the time does not depend on where ours is.
    let stanzaKeys = try stanzaKeys(shared: shared, ephemeral: ephemeral, recipient: identity.publicKey.bytes)
    let mac = try HMACSHA256(key: stanzaKeys.authentication)
    let stanzaSize = stanzaSize(mode)
    let macEnd = stanzaSize - RecordLayer.tagSize - RecordLayer.crcSize
    var found: Int?
    for index in 0..<count {
      let start = stanzasOffset + index * stanzaSize
      let stanza = UnsafeRawBufferPointer(rebasing: header[start..<start + stanzaSize])
      let crcOK =
        CRC32.checksum(UnsafeRawBufferPointer(rebasing: stanza[0..<macEnd + RecordLayer.tagSize]))
        == BigEndian.loadUInt32(stanza.baseAddress! + macEnd + RecordLayer.tagSize)
      let tagOK = mac.verify(
        UnsafeRawBufferPointer(rebasing: stanza[0..<macEnd]),
        expectedTag: UnsafeRawBufferPointer(rebasing: stanza[macEnd..<macEnd + RecordLayer.tagSize]))
      if crcOK && tagOK && found == nil { found = index }
    }
    guard let found else {
      throw ProtocolError.authenticationFailed("this identity is not a recipient of the file")
    }
    let start = stanzasOffset + found * stanzaSize
    let stanza = UnsafeRawBufferPointer(rebasing: header[start..<start + stanzaSize])
    let ciphertextCount = stanzaSize - RecordLayer.frameOverhead
    guard stanza[0] == RecordLayer.version, stanza[1] == FrameType.data.rawValue, stanza[2] == RecordLayer.finalFlag,
      stanza[3] == 0, BigEndian.loadUInt64(stanza.baseAddress! + 4) == 0,
      BigEndian.loadUInt32(stanza.baseAddress! + 12) == UInt32(ciphertextCount)
    else { throw ProtocolError.malformed("a recipient stanza that is not one final data frame numbered 0") }
    let plaintext = SecretBytes(count: ciphertextCount)
    let plaintextCount = try plaintext.withUnsafeMutableBytes {
      try FrameDecryptor(key: stanzaKeys.encryption).decrypt(frame: stanza, into: $0.baseAddress!)
    }
    guard plaintextCount == stanzaPlaintextCount(mode) else {
      throw ProtocolError.malformed("a recipient stanza of \(plaintextCount) bytes of plaintext")
    }
    let fileKey = plaintext.slice(0..<fileKeySize)
    // Step 3.
    var sender: PublicKey?
    if mode == .authenticated {
      let bytes = plaintext.withUnsafeBytes { Array($0[fileKeySize..<plaintextCount]) }
      do {
        sender = try PublicKey(bytes: bytes)
      } catch {
        throw ProtocolError.malformed("the sender's key in the stanza is not a valid public key")
      }
    }
    // Step 4.
    let keys = try deriveFileKeys(fileKey: fileKey, ephemeral: ephemeral)
    let tagStart = header.count - HMACSHA256.tagSize
    guard
      try HMACSHA256(key: keys.header).verify(
        UnsafeRawBufferPointer(rebasing: header[0..<tagStart]),
        expectedTag: UnsafeRawBufferPointer(rebasing: header[tagStart...]))
    else { throw ProtocolError.authenticationFailed("the header was tampered with") }
    // Before any frame: a file that does not even claim to be from the expected sender.
    if let expectedSender, sender != expectedSender {
      throw ProtocolError.authenticationFailed(
        "not sealed by \(expectedSender.text): "
          + (sender.map { "the file names another sender, \($0.text)" } ?? "the sender is anonymous"))
    }
    var proofKey: SecretBytes?
    if let sender {
      guard let senderShared = identityKey.sharedSecret(with: sender.bytes) else {
        throw ProtocolError.malformed("the sender's key in the stanza is not a valid public key")
      }
      proofKey = try senderAuthenticationKey(
        senderShared: senderShared, ephemeralShared: shared, ephemeral: ephemeral,
        recipient: identity.publicKey.bytes, sender: sender.bytes)
    }
    return OpenedHeader(
      keys: keys, mode: mode, recipientCount: count, sender: sender, stanzaIndex: found, proofKey: proofKey,
      header: Array(header))
  }
}

// MARK: - recipients files (sc-seal -R)

extension RecipientFile {
  /// §12.2: a recipients file holds at most this much; a larger one is not a list of keys.
  public static let maxRecipientsFileSize = 64 * 1024

  /// A line of a recipients file that is not a public key.
  public struct RecipientLineError: Error {
    public let line: Int
    public let error: ProtocolError
  }

  /// The public keys of a recipients file: one per line, with `#` comments and blank lines
  /// allowed and surrounding spaces and tabs trimmed (a CR at a line's end too); each key is
  /// checked as §12.1 says. Duplicates are kept (the caller merges them).
  public static func publicKeys(inList text: [UInt8]) throws -> [PublicKey] {
    var keys: [PublicKey] = []
    for (index, rawLine) in text.split(separator: 0x0a, omittingEmptySubsequences: false).enumerated() {
      let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0d }
      let trimmed = rawLine.drop(while: isSpace).reversed().drop(while: isSpace).reversed()
      if trimmed.isEmpty || trimmed.first == UInt8(ascii: "#") { continue }
      do {
        guard let line = String(validating: Array(trimmed), as: UTF8.self) else {
          throw ProtocolError.badPublicKey("it is not text")
        }
        keys.append(try PublicKey(text: line))
      } catch let error as ProtocolError {
        throw RecipientLineError(line: index + 1, error: error)
      }
    }
    return keys
  }
}
