import COpenSSL

/// An Ed25519 signing key (RFC 8032) held by OpenSSL, made from its 32-byte seed. The public
/// audit log signs its checkpoints with it (docs/FORMATS.md §9.8).
public final class Ed25519SigningKey {
  public static let seedSize = 32
  public static let signatureSize = 64
  private let key: OpaquePointer

  /// The key of `seed` (RFC 8032 §5.1.5: the private key is the seed itself).
  public init(seed: SecretBytes) throws {
    precondition(seed.count == Self.seedSize)
    // Our own OpenSSL set-up first (no openssl.cnf), as X25519PrivateKey does.
    precondition(OpenSSLAlgorithms.initialised, "OpenSSL could not be initialised")
    let created = seed.withUnsafeBytes {
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), $0.count)
    }
    guard let created else { throw CryptoFailure("EVP_PKEY_new_raw_private_key(ED25519)") }
    key = created
  }

  deinit { EVP_PKEY_free(key) }

  public var publicKey: [UInt8] {
    var out = [UInt8](repeating: 0, count: Ed25519PublicKey.keySize)
    var length = out.count
    precondition(EVP_PKEY_get_raw_public_key(key, &out, &length) == 1 && length == out.count)
    return out
  }

  /// The signature of `message` (pure Ed25519: the message itself, no pre-hash, no context).
  public func sign(_ message: some Collection<UInt8>) throws -> [UInt8] {
    guard let context = EVP_MD_CTX_new() else { throw CryptoFailure("EVP_MD_CTX_new") }
    defer { EVP_MD_CTX_free(context) }
    guard EVP_DigestSignInit(context, nil, nil, nil, key) == 1 else {
      ERR_clear_error()
      throw CryptoFailure("EVP_DigestSignInit(ED25519)")
    }
    var signature = [UInt8](repeating: 0, count: Self.signatureSize)
    var length = signature.count
    let bytes = Array(message)
    let ok = bytes.withUnsafeBufferPointer { EVP_DigestSign(context, &signature, &length, $0.baseAddress, $0.count) }
    guard ok == 1, length == Self.signatureSize else {
      ERR_clear_error()
      throw CryptoFailure("EVP_DigestSign(ED25519)")
    }
    return signature
  }
}

/// An Ed25519 public key, for verifying signatures.
public final class Ed25519PublicKey {
  public static let keySize = 32
  private let key: OpaquePointer
  public let rawRepresentation: [UInt8]

  /// Nil when OpenSSL does not take the 32 bytes as a public key.
  public init?(rawRepresentation: [UInt8]) {
    guard rawRepresentation.count == Self.keySize else { return nil }
    precondition(OpenSSLAlgorithms.initialised, "OpenSSL could not be initialised")
    let created = rawRepresentation.withUnsafeBufferPointer {
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count)
    }
    guard let created else {
      ERR_clear_error()
      return nil
    }
    key = created
    self.rawRepresentation = rawRepresentation
  }

  deinit { EVP_PKEY_free(key) }

  /// Whether `signature` is a valid signature of `message` by this key (RFC 8032 §5.1.7, as
  /// OpenSSL checks it: it refuses a non-canonical S).
  public func isValidSignature(_ signature: [UInt8], for message: some Collection<UInt8>) -> Bool {
    guard signature.count == Ed25519SigningKey.signatureSize, let context = EVP_MD_CTX_new() else { return false }
    defer { EVP_MD_CTX_free(context) }
    guard EVP_DigestVerifyInit(context, nil, nil, nil, key) == 1 else {
      ERR_clear_error()
      return false
    }
    let bytes = Array(message)
    let ok = bytes.withUnsafeBufferPointer { body in
      signature.withUnsafeBufferPointer {
        EVP_DigestVerify(context, $0.baseAddress, $0.count, body.baseAddress, body.count)
      }
    }
    if ok != 1 { ERR_clear_error() }
    return ok == 1
  }
}
