import COpenSSL

#if canImport(Glibc)
  import Glibc
#endif

/// A failure inside OpenSSL or libsodium that is not the caller's fault (out of memory,
/// a missing algorithm). Verification failures are not errors here: they return `false`.
public struct CryptoFailure: Error, CustomStringConvertible {
  public let operation: String
  public var description: String { "cryptographic library failure in \(operation)" }
  init(_ operation: String) {
    self.operation = operation
    ERR_clear_error()
  }
}

/// C strings that OpenSSL keeps pointers to while building parameters. They live for the
/// whole process: OSSL_PARAM_construct_utf8_string stores the pointer, and a temporary
/// from Swift's String bridging would be freed before EVP_MAC_init reads it (seen under ASan).
enum OpenSSLNames {
  nonisolated(unsafe) static let sha256 = strdup("SHA256")!
  nonisolated(unsafe) static let hmac = strdup("HMAC")!
  nonisolated(unsafe) static let hkdf = strdup("HKDF")!
  nonisolated(unsafe) static let aes256cbc = strdup("AES-256-CBC")!
  nonisolated(unsafe) static let paramDigest = strdup(OSSL_MAC_PARAM_DIGEST)!
  nonisolated(unsafe) static let paramKDFDigest = strdup(OSSL_KDF_PARAM_DIGEST)!
  nonisolated(unsafe) static let paramKDFKey = strdup(OSSL_KDF_PARAM_KEY)!
  nonisolated(unsafe) static let paramKDFSalt = strdup(OSSL_KDF_PARAM_SALT)!
  nonisolated(unsafe) static let paramKDFInfo = strdup(OSSL_KDF_PARAM_INFO)!
  nonisolated(unsafe) static let paramKDFMode = strdup(OSSL_KDF_PARAM_MODE)!
}

/// Algorithms are fetched once per process, on first use (explicit fetching avoids the
/// per-call implicit fetch cost of OpenSSL 3).
enum OpenSSLAlgorithms {
  nonisolated(unsafe) static let sha256: OpaquePointer = EVP_MD_fetch(nil, OpenSSLNames.sha256, nil)!
  nonisolated(unsafe) static let hmac: OpaquePointer = EVP_MAC_fetch(nil, OpenSSLNames.hmac, nil)!
  nonisolated(unsafe) static let hkdf: OpaquePointer = EVP_KDF_fetch(nil, OpenSSLNames.hkdf, nil)!
  nonisolated(unsafe) static let aes256cbc: OpaquePointer = EVP_CIPHER_fetch(nil, OpenSSLNames.aes256cbc, nil)!
}

public enum ConstantTime {
  /// CRYPTO_memcmp: time depends only on the length. Different lengths compare unequal.
  public static func equals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    if a.count == 0 { return true }
    return CRYPTO_memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
  }

  public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in equals(pa, pb) } }
  }
}
