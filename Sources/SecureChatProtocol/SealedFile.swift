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

/// Sans-I/O reader of a sealed file: feed it the buffered input, it says how many bytes the next
/// unit (header or frame) takes and verifies it. Decryption is left to the caller (`FrameDecryptor`)
/// so that it can run on another thread.
public final class SealedFileReader {
  public enum Step {
    case needMoreInput
    /// The header verified; `consumed` bytes of input were used.
    case header(consumed: Int)
    /// A frame of `consumed` bytes verified; decrypt those bytes next.
    case frame(consumed: Int, VerifiedFrame)
    /// The final frame has been seen and the input ended right after it.
    case finished
  }

  private let fileKey: SecretBytes
  public private(set) var keys: SealedFile.Keys?
  private var verifier: FrameVerifier?

  public init(fileKey: SecretBytes) {
    self.fileKey = fileKey
  }

  /// `input` is all buffered, not yet consumed input; `atEnd` says no more will come.
  public func next(_ input: UnsafeRawBufferPointer, atEnd: Bool) throws -> Step {
    guard let verifier else {
      guard let keys = try SealedFile.openHeader(input, atEnd: atEnd, fileKey: fileKey) else { return .needMoreInput }
      self.keys = keys
      verifier = try FrameVerifier(key: keys.frames.authentication)
      return .header(consumed: SealedFile.headerSize)
    }
    if verifier.sawFinal {
      if input.isEmpty && atEnd { return .finished }
      if input.isEmpty { return .needMoreInput }
      throw ProtocolError.trailingData
    }
    guard let length = try RecordLayer.frameLength(startingAt: input), input.count >= length else {
      if atEnd { throw ProtocolError.truncated }
      return .needMoreInput
    }
    let frame = try verifier.verify(frame: UnsafeRawBufferPointer(rebasing: input[0..<length]))
    try SealedFile.checkChunk(frame)
    return .frame(consumed: length, frame)
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
    let reader = SealedFileReader(fileKey: fileKey)
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
      case .finished:
        return plaintext
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
