import COpenSSL

/// An ephemeral X25519 key pair (RFC 7748) held by OpenSSL.
///
/// Sendable because nothing changes it after `init`: every derivation makes its own
/// EVP_PKEY_CTX, and OpenSSL 3 lets threads share an EVP_PKEY they only read.
public final class X25519PrivateKey: @unchecked Sendable {
  public static let keySize = 32
  private let key: OpaquePointer

  /// A fresh key pair.
  public convenience init() throws {
    let secret = SecretBytes.random(count: Self.keySize)
    try self.init(rawRepresentation: secret)
  }

  /// A key pair from a fixed 32-byte scalar (test vectors, or randomness injected by the caller).
  public init(rawRepresentation: SecretBytes) throws {
    precondition(rawRepresentation.count == Self.keySize)
    // Often the process's first OpenSSL call (sc-open -i, sc-handshake -i): set OpenSSL up our
    // way before it sets itself up with its defaults (see OpenSSLAlgorithms.initialised).
    precondition(OpenSSLAlgorithms.initialised, "OpenSSL could not be initialised")
    let created = rawRepresentation.withUnsafeBytes {
      EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nil, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), $0.count)
    }
    guard let created else { throw CryptoFailure("EVP_PKEY_new_raw_private_key") }
    key = created
  }

  deinit { EVP_PKEY_free(key) }

  public var publicKey: [UInt8] {
    var out = [UInt8](repeating: 0, count: Self.keySize)
    var length = Self.keySize
    precondition(EVP_PKEY_get_raw_public_key(key, &out, &length) == 1 && length == Self.keySize)
    return out
  }

  /// The shared secret with `peerPublicKey`, or nil when it is all zeros (the peer sent a
  /// low-order point) or the peer key is malformed. Callers treat nil as an authentication failure.
  public func sharedSecret(with peerPublicKey: [UInt8]) -> SecretBytes? {
    guard peerPublicKey.count == Self.keySize else { return nil }
    let peer = peerPublicKey.withUnsafeBytes {
      EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nil, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), $0.count)
    }
    guard let peer else { return nil }
    defer { EVP_PKEY_free(peer) }
    guard let context = EVP_PKEY_CTX_new(key, nil) else { return nil }
    defer { EVP_PKEY_CTX_free(context) }
    guard EVP_PKEY_derive_init(context) == 1, EVP_PKEY_derive_set_peer(context, peer) == 1 else {
      ERR_clear_error()
      return nil
    }
    let shared = SecretBytes(count: Self.keySize)
    var length = Self.keySize
    let ok = shared.withUnsafeMutableBytes {
      EVP_PKEY_derive(context, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), &length)
    }
    // OpenSSL itself refuses an all-zero X25519 result; check again so the property does not
    // depend on the library version.
    guard ok == 1, length == Self.keySize else {
      ERR_clear_error()
      return nil
    }
    let allZero = shared.withUnsafeBytes { bytes in bytes.reduce(UInt8(0)) { $0 | $1 } == 0 }
    return allZero ? nil : shared
  }
}
