import SecureChatCrypto

/// The key file format of docs/FORMATS.md §1:
///
///     # SecureChat pre-shared key. Keep it secret: …
///     securechat-key-v1 psk 0f1e…(64 hex digits)
///
/// Parsing works on raw bytes held in `SecretBytes`, never on a Swift `String`.
public enum KeyFile {
  /// §1: a key file is small; anything larger is rejected before it is read in full.
  public static let maxSize = 4096
  public static let keySize = 32
  static let tag = Array("securechat-key-v1".utf8)

  public enum KeyType: String, CaseIterable, Sendable {
    /// A pre-shared key for chat sessions and sealed files.
    case psk
    /// A session log's current sealing key, with the log position (§1.2): replaced after every entry.
    case logSeal = "log-seal"
    /// A session log's verification key (the first sealing key): checks, and could forge, the whole log.
    case logVerify = "log-verify"
    /// The secret key of an identity (§12): an X25519 scalar, whose public key others pin.
    case identity
    /// A public session log's signing key (§9.8): the seed of the Ed25519 key of the next
    /// checkpoint, with the log and checkpoint positions and the audit key; replaced after every
    /// append, the seed evolved at every checkpoint.
    case logSign = "log-sign"
  }

  /// Where a log's writer is (§1.2): the next entry's number and the tag of the last entry.
  public struct LogPosition: Sendable, Equatable {
    public let nextIndex: UInt64
    public let previousTag: [UInt8]

    public init(nextIndex: UInt64, previousTag: [UInt8]) {
      precondition(previousTag.count == 32)
      self.nextIndex = nextIndex
      self.previousTag = previousTag
    }
  }

  public struct Key: Sendable {
    public let type: KeyType
    public let secret: SecretBytes
    /// Present exactly for `log-seal` and `log-sign` keys.
    public let logPosition: LogPosition?
    /// Present exactly for `log-sign` keys: the checkpoints written, and the log's audit key.
    public let checkpointPosition: CheckpointPosition?
    public let auditKey: [UInt8]?

    public init(
      type: KeyType, secret: SecretBytes, logPosition: LogPosition? = nil,
      checkpointPosition: CheckpointPosition? = nil, auditKey: [UInt8]? = nil
    ) {
      precondition(secret.count == KeyFile.keySize)
      precondition(
        (type == .logSeal || type == .logSign) == (logPosition != nil), "only log keys carry a log position")
      precondition(
        (type == .logSign) == (checkpointPosition != nil && auditKey?.count == 32),
        "log-sign keys carry their checkpoint position and audit key")
      self.type = type
      self.secret = secret
      self.logPosition = logPosition
      self.checkpointPosition = checkpointPosition
      self.auditKey = auditKey
    }

    /// §1.3: "SHA256:" and unpadded base64 of SHA-256(label ‖ 0 ‖ type ‖ 0 ‖ key).
    public var fingerprint: String {
      secret.withUnsafeBytes { KeyFile.fingerprint(typeName: type.rawValue, keyBytes: $0) }
    }
  }

  /// §1.3: "SHA256:" and unpadded base64 of SHA-256(label ‖ 0 ‖ type ‖ 0 ‖ key).
  /// The key is hashed where it lies (a secret key is never copied out of its buffer).
  static func fingerprint(typeName: String, keyBytes: UnsafeRawBufferPointer) -> String {
    let hasher = SHA256()
    hasher.update(Array("SecureChat v1 key fingerprint".utf8) + [0] + Array(typeName.utf8) + [0])
    hasher.update(keyBytes)
    return "SHA256:" + Base64.encode(hasher.finalize(), padding: false)
  }

  public static let pskHeaderComment =
    "# SecureChat pre-shared key. Keep it secret: anyone who holds it can read and forge messages.\n"

  static func headerComment(_ type: KeyType) -> String {
    switch type {
    case .psk: return pskHeaderComment
    case .logSeal:
      return "# SecureChat log sealing key. Rewritten after every log entry; it cannot alter earlier entries.\n"
    case .logVerify:
      return "# SecureChat log verification key. Keep it secret and off the logging host: it can forge entries.\n"
    case .identity:
      return "# SecureChat identity. Keep it secret: anyone who holds it can act as you. Hand out the public key.\n"
    case .logSign:
      return "# SecureChat log signing key. Rewritten after every log entry; it cannot sign earlier checkpoints.\n"
    }
  }

  /// The file's bytes for `key`, in a secret buffer (the hex digits are as secret as the key).
  public static func serialize(_ key: Key, comment: String? = nil) -> SecretBytes {
    serialize(key, commentLines: comment.map { ["comment: \($0)"] } ?? [])
  }

  /// The same, with lines of comment (each written as "# LINE") after the first.
  public static func serialize(_ key: Key, commentLines: [String]) -> SecretBytes {
    var prefix = Array(headerComment(key.type).utf8)
    for line in commentLines { prefix += Array("# \(line)\n".utf8) }
    prefix += tag + [UInt8(ascii: " ")] + Array(key.type.rawValue.utf8) + [UInt8(ascii: " ")]
    var suffix: [UInt8] = []
    if let position = key.logPosition {
      suffix = Array(" \(position.nextIndex) \(position.previousTag.hexString)".utf8)
    }
    if let checkpoint = key.checkpointPosition, let audit = key.auditKey {
      suffix += Array(" \(checkpoint.epoch) \(checkpoint.sealedCount) \(checkpoint.time) \(audit.hexString)".utf8)
    }
    let out = SecretBytes(count: prefix.count + keySize * 2 + suffix.count + 1)
    let digits = Array("0123456789abcdef".utf8)
    out.withUnsafeMutableBytes { o in
      for (i, b) in prefix.enumerated() { o[i] = b }
      key.secret.withUnsafeBytes { k in
        for i in 0..<keySize {
          o[prefix.count + 2 * i] = digits[Int(k[i] >> 4)]
          o[prefix.count + 2 * i + 1] = digits[Int(k[i] & 0x0f)]
        }
      }
      for (i, b) in suffix.enumerated() { o[prefix.count + keySize * 2 + i] = b }
      o[o.count - 1] = UInt8(ascii: "\n")
    }
    return out
  }

  /// Parses a key file's bytes. `contents` may be zeroed by the caller afterwards.
  public static func parse(_ contents: UnsafeRawBufferPointer) throws -> Key {
    guard contents.count <= maxSize else { throw ProtocolError.invalidKeyFile("larger than \(maxSize) bytes") }
    var found: Key?
    var lineStart = 0
    while lineStart < contents.count {
      var lineEnd = lineStart
      while lineEnd < contents.count && contents[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
      var end = lineEnd
      if end > lineStart && contents[end - 1] == UInt8(ascii: "\r") { end -= 1 }
      let line = UnsafeRawBufferPointer(rebasing: contents[lineStart..<end])
      lineStart = lineEnd + 1
      if line.isEmpty || line[0] == UInt8(ascii: "#") { continue }
      guard found == nil else { throw ProtocolError.invalidKeyFile("more than one key line") }
      found = try parseKeyLine(line)
    }
    guard let found else { throw ProtocolError.invalidKeyFile("no key line") }
    return found
  }

  private static func parseKeyLine(_ line: UnsafeRawBufferPointer) throws -> Key {
    let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
    if let first = fields.first, !first.elementsEqual(tag), first.starts(with: Array("securechat-key-".utf8)) {
      throw ProtocolError.unsupported("key file version")
    }
    guard fields.count >= 3, fields[0].elementsEqual(tag) else {
      throw ProtocolError.invalidKeyFile("not a securechat key (expected 'securechat-key-v1 TYPE HEX')")
    }
    guard let type = KeyType.allCases.first(where: { fields[1].elementsEqual($0.rawValue.utf8) }) else {
      throw ProtocolError.invalidKeyFile("unknown key type")
    }
    // §1.2: log-seal keys carry the log position after the key; log-sign keys that and their
    // checkpoint position and audit key (§9.8); other types nothing.
    var position: LogPosition?
    var checkpoint: CheckpointPosition?
    var auditKey: [UInt8]?
    func number(_ field: some Collection<UInt8>, _ what: String) throws -> UInt64 {
      guard field.count <= 19, !field.isEmpty, field.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
        field.count == 1 || field.first != 0x30, let value = UInt64(String(decoding: field, as: UTF8.self))
      else { throw ProtocolError.invalidKeyFile("bad \(what)") }
      return value
    }
    if type == .logSeal || type == .logSign {
      guard fields.count == (type == .logSeal ? 5 : 9) else {
        throw ProtocolError.invalidKeyFile(
          type == .logSeal
            ? "a log-seal key needs KEY INDEX TAG" : "a log-sign key needs KEY INDEX TAG EPOCH SEALED TIME AUDITKEY")
      }
      guard fields[3].count <= 19, !fields[3].isEmpty, fields[3].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
        let index = UInt64(String(decoding: fields[3], as: UTF8.self))
      else { throw ProtocolError.invalidKeyFile("bad log entry number") }
      guard fields[4].count == 64, let previousTag = [UInt8](hexString: String(decoding: fields[4], as: UTF8.self))
      else { throw ProtocolError.invalidKeyFile("bad previous tag") }
      position = LogPosition(nextIndex: index, previousTag: previousTag)
      if type == .logSign {
        let epoch = try number(fields[5], "checkpoint number")
        let sealed = try number(fields[6], "count of sealed entries")
        let time = try number(fields[7], "checkpoint time")
        // Each checkpoint is an entry: J checkpoints cover at least J entries, none covers none.
        guard sealed <= index, sealed >= epoch, (epoch == 0) == (sealed == 0) else {
          throw ProtocolError.invalidKeyFile("bad checkpoint position")
        }
        guard fields[8].count == 64, let audit = [UInt8](hexString: String(decoding: fields[8], as: UTF8.self))
        else { throw ProtocolError.invalidKeyFile("bad audit key") }
        checkpoint = CheckpointPosition(epoch: epoch, sealedCount: sealed, time: time)
        auditKey = audit
      }
    } else {
      guard fields.count == 3 else {
        throw ProtocolError.invalidKeyFile("not a securechat key (expected 'securechat-key-v1 TYPE HEX')")
      }
    }
    let hex = fields[2]
    guard hex.count == keySize * 2 else { throw ProtocolError.invalidKeyFile("key must be \(keySize * 2) hex digits") }
    let secret = SecretBytes(count: keySize)
    try secret.withUnsafeMutableBytes { out in
      var index = hex.startIndex
      for i in 0..<keySize {
        guard let high = hexValue(hex[index]), let low = hexValue(hex[index + 1]) else {
          throw ProtocolError.invalidKeyFile("key is not hexadecimal")
        }
        out[i] = high << 4 | low
        index += 2
      }
    }
    return Key(
      type: type, secret: secret, logPosition: position, checkpointPosition: checkpoint, auditKey: auditKey)
  }
}
