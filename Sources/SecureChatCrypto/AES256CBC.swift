import COpenSSL

/// AES-256-CBC with PKCS#7 padding. The key is set once per context; each message only
/// changes the IV (≈ 0.19 µs for a 112-byte message here, vs ≈ 0.5 µs with a full re-init).
public final class AES256CBC {
  public static let keySize = 32
  public static let blockSize = 16
  public static let ivSize = 16

  public enum Direction { case encrypt, decrypt }

  private let context: OpaquePointer
  public let direction: Direction

  public init(key: SecretBytes, direction: Direction) throws {
    precondition(key.count == Self.keySize, "AES-256 needs a 32-byte key")
    guard let context = EVP_CIPHER_CTX_new() else { throw CryptoFailure("EVP_CIPHER_CTX_new") }
    self.context = context
    self.direction = direction
    let ok = key.withUnsafeBytes { k -> Int32 in
      let keyPointer = k.baseAddress!.assumingMemoryBound(to: UInt8.self)
      switch direction {
      case .encrypt: return EVP_EncryptInit_ex2(context, OpenSSLAlgorithms.aes256cbc, keyPointer, nil, nil)
      case .decrypt: return EVP_DecryptInit_ex2(context, OpenSSLAlgorithms.aes256cbc, keyPointer, nil, nil)
      }
    }
    guard ok == 1 else { throw CryptoFailure("EVP_CipherInit_ex2") }
  }

  /// EVP_CIPHER_CTX_free resets the context first: the provider's aes_freectx
  /// (providers/implementations/ciphers/cipher_aes.c in OpenSSL 3.0) frees the context that holds
  /// the key schedule with OPENSSL_clear_free, which cleanses it.
  deinit { EVP_CIPHER_CTX_free(context) }

  /// The ciphertext size for `plaintextCount` bytes: padding always adds 1 to 16 bytes.
  @inline(__always)
  public static func ciphertextCount(forPlaintextCount plaintextCount: Int) -> Int {
    (plaintextCount / blockSize + 1) * blockSize
  }

  /// Encrypts `plaintext` under `iv` into `output`, which must hold
  /// `ciphertextCount(forPlaintextCount:)` bytes. Returns the ciphertext length.
  public func encrypt(
    iv: UnsafeRawPointer, plaintext: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer
  ) -> Int {
    precondition(direction == .encrypt)
    let out = output.assumingMemoryBound(to: UInt8.self)
    var written: Int32 = 0
    var finalWritten: Int32 = 0
    precondition(EVP_EncryptInit_ex2(context, nil, nil, iv.assumingMemoryBound(to: UInt8.self), nil) == 1)
    if plaintext.count > 0 {
      precondition(
        EVP_EncryptUpdate(
          context, out, &written, plaintext.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(plaintext.count))
          == 1)
    }
    precondition(EVP_EncryptFinal_ex(context, out + Int(written), &finalWritten) == 1)
    return Int(written) + Int(finalWritten)
  }

  /// Decrypts `ciphertext` (a positive multiple of 16 bytes) into `output`, which must hold
  /// `ciphertext.count` bytes. Returns the plaintext length, or nil if the padding is bad.
  /// Callers check the MAC first, so a bad padding here means a bug or a forged tag.
  public func decrypt(
    iv: UnsafeRawPointer, ciphertext: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer
  ) -> Int? {
    precondition(direction == .decrypt)
    guard ciphertext.count > 0, ciphertext.count % Self.blockSize == 0 else { return nil }
    let out = output.assumingMemoryBound(to: UInt8.self)
    var written: Int32 = 0
    var finalWritten: Int32 = 0
    precondition(EVP_DecryptInit_ex2(context, nil, nil, iv.assumingMemoryBound(to: UInt8.self), nil) == 1)
    precondition(
      EVP_DecryptUpdate(
        context, out, &written, ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(ciphertext.count))
        == 1)
    guard EVP_DecryptFinal_ex(context, out + Int(written), &finalWritten) == 1 else {
      ERR_clear_error()
      return nil
    }
    return Int(written) + Int(finalWritten)
  }

  /// Convenience for tests and small messages.
  public func encrypt(iv: [UInt8], plaintext: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: Self.ciphertextCount(forPlaintextCount: plaintext.count))
    let n = iv.withUnsafeBytes { ivp in
      plaintext.withUnsafeBytes { p in
        out.withUnsafeMutableBytes { encrypt(iv: ivp.baseAddress!, plaintext: p, into: $0.baseAddress!) }
      }
    }
    return Array(out[..<n])
  }

  public func decrypt(iv: [UInt8], ciphertext: [UInt8]) -> [UInt8]? {
    var out = [UInt8](repeating: 0, count: max(ciphertext.count, 1))
    let n = iv.withUnsafeBytes { ivp in
      ciphertext.withUnsafeBytes { c in
        out.withUnsafeMutableBytes { decrypt(iv: ivp.baseAddress!, ciphertext: c, into: $0.baseAddress!) }
      }
    }
    return n.map { Array(out[..<$0]) }
  }
}
