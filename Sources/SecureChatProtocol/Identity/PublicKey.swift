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
    // A clamped scalar is a multiple of 8, so a point of low order gives all zeros with any of them.
    guard try X25519PrivateKey().sharedSecret(with: bytes) != nil else {
      throw ProtocolError.badPublicKey("it is a point of low order, which no identity has")
    }
    self.bytes = bytes
  }

  /// Reads the text form; surrounding spaces are the caller's to remove.
  public init(text: String) throws {
    guard text.lowercased().hasPrefix(Self.prefix + "1") else {
      throw ProtocolError.badPublicKey("a SecureChat public key starts with \(Self.prefix)1")
    }
    guard text.utf8.count == Self.textLength else {
      throw ProtocolError.badPublicKey(
        "it has \(text.utf8.count) characters, not \(Self.textLength): cut short or run together with other text?")
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
    guard decoded.prefix == Self.prefix else {
      throw ProtocolError.badPublicKey("a SecureChat public key starts with \(Self.prefix)1")
    }
    try self.init(bytes: decoded.data)
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
