import SecureChatCrypto

/// The public key of an identity (docs/FORMATS.md §12.1): a 32-byte X25519 public key, written as
/// one line of Bech32m text with the prefix `scpub`, such as
/// `scpub1…` (64 characters). Not secret: it is meant to be pasted into mail and chats.
public struct PublicKey: Equatable, Hashable, Sendable {
  public static let prefix = "scpub"
  /// Every public key's text has this length: "scpub1", 52 data characters, 6 of checksum.
  public static let textLength = 64

  public let bytes: [UInt8]

  /// Any 32 bytes that are not a point of low order (§12.1): one whose Diffie-Hellman output
  /// with every secret is all zeros would make every exchange with it public.
  public init(bytes: [UInt8]) throws {
    guard bytes.count == X25519PrivateKey.keySize else {
      throw ProtocolError.badPublicKey("it holds \(bytes.count) bytes, not 32")
    }
    guard !Self.hasLowOrder(bytes) else {
      throw ProtocolError.badPublicKey("it is a point of low order, which no identity has")
    }
    self.bytes = bytes
  }

  /// The u-coordinates of the points of order 1, 2, 4 and 8 on Curve25519 and their encodings
  /// at or above p (RFC 7748 §6.1; the list libsodium and Wycheproof use): 0, 1, the two points of
  /// order 8, p − 1, p and p + 1. X25519 ignores the top bit, so it is ignored here too. A clamped
  /// scalar is a multiple of 8, so with any of these X25519 gives all zeros, and with no other u.
  static let lowOrderPoints: [[UInt8]] = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  ].map { [UInt8](hexString: $0)! }

  /// A table look-up rather than a Diffie-Hellman with a throwaway key: it costs nothing, and a
  /// handshake does it for every static key it sees. The all-zero check of every DH output stays.
  static func hasLowOrder(_ bytes: [UInt8]) -> Bool {
    lowOrderPoints.contains { point in
      point.prefix(31).elementsEqual(bytes.prefix(31)) && point[31] == bytes[31] & 0x7f
    }
  }

  /// Reads the text form; surrounding spaces are the caller's to remove.
  public init(text: String) throws {
    try self.init(bytes: try Self.decode(text, prefix: Self.prefix, what: "a SecureChat public key"))
  }

  /// The 32 bytes of a key written as Bech32m text with `prefix` (§12.1; the audit keys of
  /// §9.8 too), checked in the order of §12.1 up to the length of the data.
  static func decode(_ text: String, prefix: String, what: String) throws -> [UInt8] {
    guard text.lowercased().hasPrefix(prefix + "1") else {
      throw ProtocolError.badPublicKey("\(what) starts with \(prefix)1")
    }
    // "prefix1", 52 data characters, 6 of checksum.
    let length = prefix.utf8.count + 1 + 52 + 6
    guard text.utf8.count == length else {
      throw ProtocolError.badPublicKey(
        "it has \(text.utf8.count) characters, not \(length): cut short or run together with other text?")
    }
    let decoded: (prefix: String, data: [UInt8])
    do {
      decoded = try Bech32m.decode(text)
    } catch Bech32m.DecodingError.badChecksum {
      throw ProtocolError.badPublicKey("its checksum does not match: a character was mistyped or changed")
    } catch Bech32m.DecodingError.mixedCase {
      throw ProtocolError.badPublicKey("it mixes upper and lower case")
    } catch Bech32m.DecodingError.invalidCharacter {
      throw ProtocolError.badPublicKey(
        "it holds a character that a public key never has (b, i, o, 1 or not a letter or digit)")
    } catch {
      throw ProtocolError.badPublicKey("it is not Bech32m text")
    }
    guard decoded.prefix == prefix else { throw ProtocolError.badPublicKey("\(what) starts with \(prefix)1") }
    guard decoded.data.count == 32 else {
      throw ProtocolError.badPublicKey("it holds \(decoded.data.count) bytes, not 32")
    }
    return decoded.data
  }

  /// The public key of an identity's secret key.
  public init(identitySecret: SecretBytes) throws {
    try self.init(bytes: X25519PrivateKey(rawRepresentation: identitySecret).publicKey)
  }

  public var text: String { Bech32m.encode(prefix: Self.prefix, data: bytes) }

  /// §12.1: as a key file's fingerprint (§1.3), with the type name `public`.
  public var fingerprint: String {
    bytes.withUnsafeBytes { KeyFile.fingerprint(typeName: "public", keyBytes: $0) }
  }
}
