import COpenSSL

/// SHA-256 from OpenSSL, one-shot or incremental.
public final class SHA256 {
  public static let digestSize = 32
  private let context: OpaquePointer

  public init() {
    context = EVP_MD_CTX_new()!
    precondition(EVP_DigestInit_ex2(context, OpenSSLAlgorithms.sha256, nil) == 1, "EVP_DigestInit_ex2 failed")
  }

  deinit { EVP_MD_CTX_free(context) }

  public func update(_ bytes: UnsafeRawBufferPointer) {
    guard bytes.count > 0 else { return }
    precondition(EVP_DigestUpdate(context, bytes.baseAddress, bytes.count) == 1)
  }

  public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

  public func finalize() -> [UInt8] {
    var out = [UInt8](repeating: 0, count: Self.digestSize)
    var length: UInt32 = 0
    precondition(EVP_DigestFinal_ex(context, &out, &length) == 1 && length == 32)
    return out
  }

  /// SHA-256(a ‖ b) into `destination` (32 bytes) in one low-overhead call (for hash chains).
  @inline(__always)
  public static func hash(
    _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, into destination: UnsafeMutableRawPointer
  ) {
    precondition(
      securechat_sha256_concat(
        a.baseAddress, a.count, b.baseAddress, b.count, destination.assumingMemoryBound(to: UInt8.self)) == 1)
  }

  /// SHA-256(a ‖ b ‖ c) into `destination` (32 bytes), as above.
  @inline(__always)
  public static func hash(
    _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ c: UnsafeRawBufferPointer,
    into destination: UnsafeMutableRawPointer
  ) {
    precondition(
      securechat_sha256_concat3(
        a.baseAddress, a.count, b.baseAddress, b.count, c.baseAddress, c.count,
        destination.assumingMemoryBound(to: UInt8.self)) == 1)
  }

  public static func hash(_ bytes: [UInt8]) -> [UInt8] {
    let hasher = SHA256()
    hasher.update(bytes)
    return hasher.finalize()
  }
}
