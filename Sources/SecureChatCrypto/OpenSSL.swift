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
  /// OpenSSL is set up on first use, by every entry point of this module that calls it (the
  /// fetches below and X25519PrivateKey): any other first call would make OpenSSL set itself up
  /// with its defaults, which read openssl.cnf. The options, each in OPENSSL_init_crypto(3):
  /// - no openssl.cnf: we name every algorithm explicitly and need nothing from it;
  /// - no atexit clean-up: the process frees everything when it exits;
  /// - no error strings (ERR_load_crypto_strings): we never print OpenSSL's errors, CryptoFailure
  ///   names the operation;
  /// - no legacy cipher and digest name tables: they serve only EVP_get_cipherbyname and the like,
  ///   which we never call; OpenSSL 3.0 copies every name in them into the name map that each
  ///   fetch scans once per algorithm it builds. Fetching by name (below) and EVP_PKEY_X25519
  ///   (the object table) do not use them.
  /// Measured with OpenSSL 3.0.19 on this machine (shared, so loaded): a C program that makes
  /// the OpenSSL calls of `sc-open -i` (an X25519 key and DH, HKDF, HMAC, AES-256-CBC, SHA-256),
  /// a fresh process each time, median of 60: 4.7 ms with the defaults, 4.4 ms without
  /// openssl.cnf, 3.7 ms also without the error strings, 2.5 ms with every option here.
  static let initialised: Bool = {
    let options =
      OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS
      | OPENSSL_INIT_NO_ADD_ALL_CIPHERS | OPENSSL_INIT_NO_ADD_ALL_DIGESTS
    return OPENSSL_init_crypto(UInt64(options), nil) == 1
  }()

  nonisolated(unsafe) static let sha256: OpaquePointer = fetch { EVP_MD_fetch(nil, OpenSSLNames.sha256, nil) }
  nonisolated(unsafe) static let hmac: OpaquePointer = fetch { EVP_MAC_fetch(nil, OpenSSLNames.hmac, nil) }
  nonisolated(unsafe) static let hkdf: OpaquePointer = fetch { EVP_KDF_fetch(nil, OpenSSLNames.hkdf, nil) }
  nonisolated(unsafe) static let aes256cbc: OpaquePointer = fetch {
    EVP_CIPHER_fetch(nil, OpenSSLNames.aes256cbc, nil)
  }

  private static func fetch(_ body: () -> OpaquePointer?) -> OpaquePointer {
    precondition(initialised, "OpenSSL could not be initialised")
    guard let algorithm = body() else { fatalError("OpenSSL lacks an algorithm SecureChat needs") }
    return algorithm
  }
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

/// OpenSSL 3.0 pays for each kind of algorithm on its first use in a process: the first fetch of
/// a cipher builds every cipher its provider has (≈ 1.3 ms for AES-256-CBC, measured in a C
/// program on this shared machine), the first digest fetch every digest, and so on. A tool that
/// is about to wait (for a peer, say) can pay all of it in that wait rather than in the middle of
/// its next step.
public enum CryptoPreparation {
  /// Fetches every algorithm SecureChat uses, X25519's key exchange included. The first call does
  /// the work; later ones cost nothing. Nothing secret is involved.
  public static func prepareAlgorithms() {
    precondition(prepared)
  }

  private static let prepared: Bool = {
    _ = OpenSSLAlgorithms.sha256
    _ = OpenSSLAlgorithms.hmac
    _ = OpenSSLAlgorithms.hkdf
    _ = OpenSSLAlgorithms.aes256cbc
    // Only fetched by EVP_PKEY_derive_init (X25519PrivateKey.sharedSecret), by name: fetching it
    // once puts it in OpenSSL's method store, where that fetch then finds it.
    EVP_KEYEXCH_free(EVP_KEYEXCH_fetch(nil, "X25519", nil))
    return true
  }()
}
