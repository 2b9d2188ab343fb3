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
  }

  public struct Key: Sendable {
    public let type: KeyType
    public let secret: SecretBytes

    public init(type: KeyType, secret: SecretBytes) {
      precondition(secret.count == KeyFile.keySize)
      self.type = type
      self.secret = secret
    }

    /// §1.3: "SHA256:" and unpadded base64 of SHA-256(label ‖ 0 ‖ type ‖ 0 ‖ key).
    public var fingerprint: String {
      let hasher = SHA256()
      hasher.update(Array("SecureChat v1 key fingerprint".utf8) + [0] + Array(type.rawValue.utf8) + [0])
      secret.withUnsafeBytes { hasher.update($0) }
      return "SHA256:" + Base64.encode(hasher.finalize(), padding: false)
    }
  }

  public static let pskHeaderComment =
    "# SecureChat pre-shared key. Keep it secret: anyone who holds it can read and forge messages.\n"

  /// The file's bytes for `key`, in a secret buffer (the hex digits are as secret as the key).
  public static func serialize(_ key: Key, comment: String? = nil) -> SecretBytes {
    var prefix = Array(pskHeaderComment.utf8)
    if let comment { prefix += Array("# comment: \(comment)\n".utf8) }
    prefix += tag + [UInt8(ascii: " ")] + Array(key.type.rawValue.utf8) + [UInt8(ascii: " ")]
    let out = SecretBytes(count: prefix.count + keySize * 2 + 1)
    let digits = Array("0123456789abcdef".utf8)
    out.withUnsafeMutableBytes { o in
      for (i, b) in prefix.enumerated() { o[i] = b }
      key.secret.withUnsafeBytes { k in
        for i in 0..<keySize {
          o[prefix.count + 2 * i] = digits[Int(k[i] >> 4)]
          o[prefix.count + 2 * i + 1] = digits[Int(k[i] & 0x0f)]
        }
      }
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
    guard fields.count == 3, fields[0].elementsEqual(tag) else {
      throw ProtocolError.invalidKeyFile("not a securechat key (expected 'securechat-key-v1 TYPE HEX')")
    }
    guard let type = KeyType.allCases.first(where: { fields[1].elementsEqual($0.rawValue.utf8) }) else {
      throw ProtocolError.invalidKeyFile("unknown key type")
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
    return Key(type: type, secret: secret)
  }
}
