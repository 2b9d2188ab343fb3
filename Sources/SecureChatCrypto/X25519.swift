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
    let shared = SecretBytes(count: Self.keySize)
    return shared.withUnsafeMutableBytes { deriveSharedSecret(with: peerPublicKey, into: $0) } ? shared : nil
  }

  /// The shared secret with `peerPublicKey` into `output` (the first 32 bytes of a secret buffer),
  /// for a caller that gathers several of them in one buffer (the handshake's DH outputs) rather
  /// than allocate, lock and free a buffer for each. False, with those 32 bytes zeroed, in every
  /// case where `sharedSecret(with:)` gives nil.
  public func deriveSharedSecret(with peerPublicKey: [UInt8], into output: UnsafeMutableRawBufferPointer) -> Bool {
    precondition(output.count >= Self.keySize)
    let out = UnsafeMutableRawBufferPointer(rebasing: output[0..<Self.keySize])
    // Zeros until a good result is there, so that every failure leaves zeros.
    OPENSSL_cleanse(out.baseAddress, out.count)
    guard peerPublicKey.count == Self.keySize else { return false }
    let peer = peerPublicKey.withUnsafeBytes {
      EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nil, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), $0.count)
    }
    guard let peer else { return false }
    defer { EVP_PKEY_free(peer) }
    // From the key alone (no ENGINE look-up, which EVP_PKEY_CTX_new makes for a legacy type).
    guard let context = EVP_PKEY_CTX_new_from_pkey(nil, key, nil) else { return false }
    defer { EVP_PKEY_CTX_free(context) }
    guard EVP_PKEY_derive_init(context) == 1, EVP_PKEY_derive_set_peer(context, peer) == 1 else {
      ERR_clear_error()
      return false
    }
    var length = Self.keySize
    let ok = EVP_PKEY_derive(context, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length)
    // OpenSSL itself refuses an all-zero X25519 result; check again so the property does not
    // depend on the library version.
    guard ok == 1, length == Self.keySize else {
      ERR_clear_error()
      OPENSSL_cleanse(out.baseAddress, out.count)
      return false
    }
    return out.reduce(UInt8(0)) { $0 | $1 } != 0
  }
}
