import COpenSSL

/// HMAC-SHA256 with the key set once: each `authenticate` re-initialises the context
/// without passing the key again (EVP_MAC_init with a NULL key), which is ~4x cheaper for
/// small messages than a one-shot HMAC (see DESIGN.md).
public final class HMACSHA256 {
  public static let tagSize = 32
  private let context: OpaquePointer

  public init(key: SecretBytes) throws {
    guard let context = EVP_MAC_CTX_new(OpenSSLAlgorithms.hmac) else { throw CryptoFailure("EVP_MAC_CTX_new") }
    self.context = context
    var params = [
      OSSL_PARAM_construct_utf8_string(OpenSSLNames.paramDigest, OpenSSLNames.sha256, 0),
      OSSL_PARAM_construct_end(),
    ]
    let ok = key.withUnsafeBytes { k in
      EVP_MAC_init(context, k.baseAddress?.assumingMemoryBound(to: UInt8.self), k.count, &params)
    }
    guard ok == 1 else { throw CryptoFailure("EVP_MAC_init") }
  }

  /// Freeing the context clears every copy of the key OpenSSL made. Checked in the OpenSSL 3.0
  /// sources: EVP_MAC_CTX_free calls the provider's hmac_free
  /// (providers/implementations/macs/hmac_prov.c), which clears and frees the raw copy of the key
  /// the context keeps (OPENSSL_secure_clear_free; since 3.0.18, openssl/openssl#28412, an
  /// ordinary cleared allocation) and calls HMAC_CTX_free (crypto/hmac/hmac.c). That resets the
  /// inner, outer and working digest contexts (SHA-256 states that have absorbed the key XOR
  /// ipad/opad: as good as the key) with EVP_MD_CTX_reset, whose SHA-256 freectx is
  /// OPENSSL_clear_free (prov/digestcommon.h). The padded key block of HMAC_Init_ex is a stack
  /// buffer it cleanses before returning. And measured with the OpenSSL 3.0.19 here: a C program
  /// that scans its own writable memory finds one copy of a 32-byte HMAC key while the context
  /// lives (besides the caller's), none after EVP_MAC_CTX_free.
  deinit { EVP_MAC_CTX_free(context) }

  /// Replaces the key, keeping the context (cheaper than a new context when keys change often,
  /// as in the forward-secure log where every entry has its own key).
  public func rekey(_ key: SecretBytes) {
    let ok = key.withUnsafeBytes { k in
      EVP_MAC_init(context, k.baseAddress?.assumingMemoryBound(to: UInt8.self), k.count, nil)
    }
    precondition(ok == 1, "EVP_MAC_init failed")
  }

  /// Starts a new tag under the same key.
  @inline(__always)
  public func begin() {
    precondition(EVP_MAC_init(context, nil, 0, nil) == 1, "EVP_MAC_init failed")
  }

  @inline(__always)
  public func update(_ bytes: UnsafeRawBufferPointer) {
    guard bytes.count > 0 else { return }
    precondition(EVP_MAC_update(context, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count) == 1)
  }

  /// Writes the 32-byte tag to `destination`.
  @inline(__always)
  public func finish(into destination: UnsafeMutableRawPointer) {
    var length = 0
    precondition(
      EVP_MAC_final(context, destination.assumingMemoryBound(to: UInt8.self), &length, Self.tagSize) == 1
        && length == Self.tagSize)
  }

  /// The tag of the concatenation of `parts`.
  public func authenticate(_ parts: [UInt8]...) -> [UInt8] {
    begin()
    for part in parts { part.withUnsafeBytes { update($0) } }
    var tag = [UInt8](repeating: 0, count: Self.tagSize)
    tag.withUnsafeMutableBytes { finish(into: $0.baseAddress!) }
    return tag
  }

  /// Computes the tag of `message` and compares it with `expectedTag` in constant time.
  public func verify(_ message: UnsafeRawBufferPointer, expectedTag: UnsafeRawBufferPointer) -> Bool {
    begin()
    update(message)
    return withUnsafeTemporaryAllocation(byteCount: Self.tagSize, alignment: 16) { tag in
      finish(into: tag.baseAddress!)
      return ConstantTime.equals(UnsafeRawBufferPointer(tag), expectedTag)
    }
  }
}
