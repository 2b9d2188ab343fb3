import SecureChatCrypto

/// The sealed-file format of docs/FORMATS.md §3: a 72-byte header, then record-layer frames.
///
///     0  magic "SCSEAL" (6)   6 version (1)   7 reserved (1)
///     8  salt (32)            40 header tag = HMAC-SHA256(Khdr, bytes 0..<40) (32)
public enum SealedFile {
  public static let magic: [UInt8] = Array("SCSEAL".utf8)
  public static let version: UInt8 = 1
  public static let saltSize = 32
  public static let headerSize = 72
  /// §3.2: every frame but the last carries exactly this much plaintext.
  public static let chunkSize = RecordLayer.maxPlaintextCount
  /// The frame size of a full chunk.
  public static let fullFrameSize = RecordLayer.frameSize(plaintextCount: chunkSize)

  static let encryptionLabel = Array("SecureChat v1 file encryption".utf8)
  static let authenticationLabel = Array("SecureChat v1 file authentication".utf8)
  static let headerLabel = Array("SecureChat v1 file header".utf8)

  /// The per-file keys (§3.3): each file's own salt makes its keys unique, so one key file can
  /// seal many files and a frame spliced from another file fails its tag.
  public struct Keys: Sendable {
    public let frames: FrameKeys
    public let header: SecretBytes
  }

  public static func deriveKeys(fileKey: SecretBytes, salt: [UInt8]) throws -> Keys {
    precondition(salt.count == saltSize)
    func derive(_ label: [UInt8]) throws -> SecretBytes {
      try HKDFSHA256.derive(inputKeyMaterial: fileKey, salt: salt, info: label, outputCount: 32)
    }
    return Keys(
      frames: FrameKeys(encryption: try derive(encryptionLabel), authentication: try derive(authenticationLabel)),
      header: try derive(headerLabel))
  }

  /// The header for `salt` under `keys`.
  public static func header(salt: [UInt8], keys: Keys) throws -> [UInt8] {
    var header = magic + [version, 0] + salt
    header += try HMACSHA256(key: keys.header).authenticate(header)
    return header
  }

  /// Checks the start of an input (§3.1). Returns nil while fewer than `headerSize` bytes are
  /// known and `atEnd` is false; returns the file's keys once the header has verified.
  public static func openHeader(_ prefix: UnsafeRawBufferPointer, atEnd: Bool, fileKey: SecretBytes) throws -> Keys? {
    let magicCount = min(prefix.count, magic.count)
    guard prefix.prefix(magicCount).elementsEqual(magic.prefix(magicCount)) else { throw ProtocolError.notSealed }
    // §3.1: the version is checked as soon as it is there, before the length of the header.
    if prefix.count > 6 && prefix[6] != version {
      throw ProtocolError.unsupported("sealed file version \(prefix[6])")
    }
    if prefix.count < headerSize {
      if !atEnd { return nil }
      throw prefix.count < magic.count ? ProtocolError.notSealed : ProtocolError.truncated
    }
    let salt = Array(prefix[8..<40])
    let keys = try deriveKeys(fileKey: fileKey, salt: salt)
    guard
      try HMACSHA256(key: keys.header).verify(
        UnsafeRawBufferPointer(rebasing: prefix[0..<40]), expectedTag: UnsafeRawBufferPointer(rebasing: prefix[40..<72])
      )
    else { throw ProtocolError.authenticationFailed("wrong key, or the header was tampered with") }
    guard prefix[7] == 0 else { throw ProtocolError.unsupported("sealed file header flags \(prefix[7])") }
    return keys
  }

  /// §3.2 rules that depend on the container, checked on every verified frame before its
  /// plaintext is released: data frames only (receipts belong to session streams), full chunks
  /// until the final one.
  public static func checkChunk(_ frame: VerifiedFrame) throws {
    guard frame.type == .data else { throw ProtocolError.malformed("a receipt frame in a sealed file") }
    if !frame.isFinal && frame.ciphertextCount != AES256CBC.ciphertextCount(forPlaintextCount: chunkSize) {
      throw ProtocolError.malformed("short chunk before the final one")
    }
  }

  /// §3.2: an empty final chunk is allowed only as the sole frame of an empty file.
  public static func checkPlaintextCount(_ count: Int, of frame: VerifiedFrame) throws {
    if frame.isFinal && count == 0 && frame.sequence != 0 {
      throw ProtocolError.malformed("empty final chunk after data")
    }
  }
}

/// Sans-I/O reader of a sealed file, version 1 (§3, a key file) or version 2 (§12.2, an
/// identity): feed it the buffered input, it says how many bytes the next unit (header, frame or
/// trailer) takes and verifies it. Decryption is left to the caller (`FrameDecryptor`) so that it
/// can run on another thread.
public final class SealedFileReader {
  public enum Step {
    case needMoreInput
    /// The header verified; `consumed` bytes of input were used.
    case header(consumed: Int)
    /// A frame of `consumed` bytes verified; decrypt those bytes next.
    case frame(consumed: Int, VerifiedFrame)
    /// Version 2 with an authenticated sender: the trailer of `consumed` bytes verified.
    case trailer(consumed: Int)
    /// The final frame (and trailer) have been seen and the input ended right after them.
    case finished
  }

  /// What opens the file: a key file's key (version 1) or an identity (version 2), with the
  /// sender the file must come from (`sc-open --from`).
  public enum Opener {
    case preSharedKey(SecretBytes)
    case identity(RecipientFile.Identity, expectedSender: PublicKey?)
  }

  /// Who sealed the file, as far as it has been verified.
  public enum Sender: Equatable {
    /// Version 1: any holder of the key file.
    case keyHolder
    case anonymous
    /// Named in the stanza; `proved` once the trailer's proof verified.
    case claimed(PublicKey, proved: Bool)
  }

  private let opener: Opener
  public private(set) var keys: SealedFile.Keys?
  public private(set) var sender: Sender = .keyHolder
  private var verifier: FrameVerifier?
  private var recipientHeader: RecipientFile.OpenedHeader?
  private var contentHash: ContentHash?

  public init(opener: Opener) {
    self.opener = opener
  }

  public convenience init(fileKey: SecretBytes) {
    self.init(opener: .preSharedKey(fileKey))
  }

  /// `input` is all buffered, not yet consumed input; `atEnd` says no more will come.
  public func next(_ input: UnsafeRawBufferPointer, atEnd: Bool) throws -> Step {
    try next(input, atEnd: atEnd, checkingTags: true)
  }

  /// With `checkingTags: false`, a `.frame` has passed every check of FORMATS.md §2.3 but the
  /// tag (step 5), which the caller must check (`FrameTagChecker`) before it decrypts the frame,
  /// and whose failure it must report before any later error. A frame that fails a check after
  /// step 5 has its tag checked first, so the error is still the one §2.3's order gives.
  public func next(_ input: UnsafeRawBufferPointer, atEnd: Bool, checkingTags: Bool) throws -> Step {
    guard let verifier else { return try readHeader(input, atEnd: atEnd) }
    if verifier.sawFinal {
      if let header = recipientHeader, let contentHash, case .claimed(let key, proved: false) = sender {
        let size = header.trailerSize
        guard input.count >= size else {
          if atEnd { throw ProtocolError.truncated }
          return .needMoreInput
        }
        try header.verifyTrailer(UnsafeRawBufferPointer(rebasing: input[0..<size]), contentHash: contentHash.finalize())
        sender = .claimed(key, proved: true)
        return .trailer(consumed: size)
      }
      if input.isEmpty && atEnd { return .finished }
      if input.isEmpty { return .needMoreInput }
      throw ProtocolError.trailingData
    }
    guard let length = try RecordLayer.frameLength(startingAt: input), input.count >= length else {
      if atEnd { throw ProtocolError.truncated }
      return .needMoreInput
    }
    let bytes = UnsafeRawBufferPointer(rebasing: input[0..<length])
    let frame = try verifier.verify(frame: bytes, checkingTag: checkingTags)
    do {
      try SealedFile.checkChunk(frame)
    } catch {
      if !checkingTags { try verifier.checkTag(bytes) }
      throw error
    }
    contentHash?.add(frame: bytes)
    return .frame(consumed: length, frame)
  }

  /// §3.1 steps 1–2 and the version, which picks §3.1 or §12.2 for the rest.
  private func readHeader(_ input: UnsafeRawBufferPointer, atEnd: Bool) throws -> Step {
    let magicCount = min(input.count, SealedFile.magic.count)
    guard input.prefix(magicCount).elementsEqual(SealedFile.magic.prefix(magicCount)) else {
      throw ProtocolError.notSealed
    }
    let version = input.count > 6 ? input[6] : nil
    switch (version, opener) {
    case (RecipientFile.version, .preSharedKey):
      throw ProtocolError.wrongKeyType("the input is sealed to recipients: open it with -i IDENTITY")
    case (SealedFile.version, .identity):
      throw ProtocolError.wrongKeyType("the input is sealed with a pre-shared key: open it with -k KEYFILE")
    case (RecipientFile.version, .identity(let identity, let expectedSender)):
      guard let (size, mode) = try RecipientFile.headerSize(of: input, atEnd: atEnd) else { return .needMoreInput }
      let opened = try RecipientFile.openHeader(
        UnsafeRawBufferPointer(rebasing: input[0..<size]), mode: mode, identity: identity,
        expectedSender: expectedSender)
      recipientHeader = opened
      sender = opened.sender.map { .claimed($0, proved: false) } ?? .anonymous
      if mode == .authenticated { contentHash = ContentHash() }
      return try start(opened.keys, consumed: size)
    case (_, .preSharedKey(let fileKey)):
      guard let keys = try SealedFile.openHeader(input, atEnd: atEnd, fileKey: fileKey) else { return .needMoreInput }
      return try start(keys, consumed: SealedFile.headerSize)
    case (nil, .identity):
      if !atEnd { return .needMoreInput }
      throw input.count < SealedFile.magic.count ? ProtocolError.notSealed : ProtocolError.truncated
    case (let version?, .identity):
      throw ProtocolError.unsupported("sealed file version \(version)")
    }
  }

  private func start(_ keys: SealedFile.Keys, consumed: Int) throws -> Step {
    self.keys = keys
    verifier = try FrameVerifier(key: keys.frames.authentication)
    return .header(consumed: consumed)
  }
}

extension SealedFile {
  /// Opens a whole sealed file held in memory, binary or armored, on one thread: the reference
  /// path for test vectors and small inputs (the tools stream with the same reader and rules).
  ///
  /// Armor is read line by line (FORMATS.md §4.2 rule 7): the bytes of the lines before a
  /// damaged one go through the checks of §3 first, and the armor's failure is reported only
  /// when those checks need more bytes than the good lines gave.
  public static func open(_ input: [UInt8], fileKey: SecretBytes) throws -> [UInt8] {
    try open(input, opener: .preSharedKey(fileKey)).plaintext
  }

  /// The same for either version: the plaintext, and who sealed the file (§12.2 step 6).
  public static func open(
    _ input: [UInt8], opener: SealedFileReader.Opener
  ) throws -> (plaintext: [UInt8], sender: SealedFileReader.Sender) {
    var binary = input
    var armorFailure: Error?
    if Armor.looksArmored(input.prefix(Armor.beginLine.count)) {
      var decoder = ArmorDecoder()
      binary = []
      do {
        try input.withUnsafeBytes { try decoder.decode($0, into: &binary) }
        try decoder.finish(into: &binary)
      } catch {
        // `binary` holds the bytes of every line before the failing one.
        armorFailure = error
      }
    }
    let reader = SealedFileReader(opener: opener)
    var decryptor: FrameDecryptor?
    var plaintext: [UInt8] = []
    var offset = 0
    while true {
      let step = try binary.withUnsafeBytes {
        try reader.next(UnsafeRawBufferPointer(rebasing: $0[offset...]), atEnd: armorFailure == nil)
      }
      switch step {
      case .needMoreInput:
        guard let armorFailure else { preconditionFailure("the whole input was given") }
        throw armorFailure
      case .header(let consumed):
        decryptor = try FrameDecryptor(key: reader.keys!.frames.encryption)
        offset += consumed
      case .frame(let consumed, let frame):
        var chunk = [UInt8](repeating: 0, count: frame.ciphertextCount)
        let count = try binary.withUnsafeBytes { bytes in
          try chunk.withUnsafeMutableBytes {
            try decryptor!.decrypt(
              frame: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + consumed]), into: $0.baseAddress!)
          }
        }
        try checkPlaintextCount(count, of: frame)
        plaintext += chunk[0..<count]
        offset += consumed
      case .trailer(let consumed):
        offset += consumed
      case .finished:
        return (plaintext, reader.sender)
      }
    }
  }
}

extension SealedFile {
  /// Seals a whole plaintext held in memory on one thread (reference encoder for tests and
  /// vectors; the tool streams the same frames from two threads). `salt` is injectable so that
  /// tests can build files that share keys.
  public static func seal(
    _ plaintext: [UInt8], fileKey: SecretBytes, salt: [UInt8] = SecureRandom.bytes(count: saltSize)
  ) throws -> [UInt8] {
    let keys = try deriveKeys(fileKey: fileKey, salt: salt)
    var out = try header(salt: salt, keys: keys)
    let sealer = try FrameSealer(keys: keys.frames)
    var offset = 0
    repeat {
      let count = min(chunkSize, plaintext.count - offset)
      let isFinal = offset + count == plaintext.count
      out += sealer.seal(Array(plaintext[offset..<offset + count]), isFinal: isFinal)
      offset += count
    } while !sealer.isFinished
    return out
  }
}
