import SecureChatCrypto

/// The public audit key of a public session log (docs/FORMATS.md §9.8): the Ed25519 public key
/// whose secret signs the log's first checkpoint, written as one line of Bech32m with the prefix
/// `scaudit` (`scaudit1`, 52 data characters, 6 of checksum: 66 characters), as identities'
/// public keys are (§12.1). Not secret: the auditor keeps it, and can hand it to anyone.
public struct AuditKey: Equatable, Sendable {
  public static let prefix = "scaudit"
  public let bytes: [UInt8]

  /// 32 bytes that OpenSSL takes as an Ed25519 public key.
  public init(bytes: [UInt8]) throws {
    guard bytes.count == Ed25519PublicKey.keySize, Ed25519PublicKey(rawRepresentation: bytes) != nil else {
      throw ProtocolError.badPublicKey("it is not an Ed25519 public key")
    }
    self.bytes = bytes
  }

  /// Reads the text form (in either case, not mixed); surrounding spaces are the caller's.
  public init(text: String) throws {
    try self.init(bytes: try PublicKey.decode(text, prefix: Self.prefix, what: "a SecureChat audit key"))
  }

  /// The audit key of the first signing key of a log (its seed, made by sc-keygen --log --public).
  public init(seed: SecretBytes) throws {
    try self.init(bytes: try Ed25519SigningKey(seed: seed).publicKey)
  }

  public var text: String { Bech32m.encode(prefix: Self.prefix, data: bytes) }

  /// §9.8: as a key file's fingerprint (§1.3), with the type name `audit`; the state file of
  /// sc-logcheck names the log's key by it.
  public var fingerprint: String {
    bytes.withUnsafeBytes { KeyFile.fingerprint(typeName: "audit", keyBytes: $0) }
  }
}
