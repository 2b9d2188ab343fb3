import CSodium

#if canImport(Glibc)
  import Glibc
#endif

/// The only home of key material: a fixed-size buffer that is zeroed when released and, when
/// small enough to be a key or a key file, kept in guarded, locked memory.
///
/// It is a class so that the bytes are never copied implicitly; it deliberately has no
/// `description` that would show its contents.
public final class SecretBytes: @unchecked Sendable, CustomStringConvertible, CustomDebugStringConvertible {
  public let count: Int
  private let pointer: UnsafeMutableRawPointer
  /// Whether the buffer came from sodium_malloc (else from calloc).
  private let isGuarded: Bool

  /// Buffers up to this size (keys, key files, sessions) come from `sodium_malloc`: pages of
  /// their own, locked in memory (mlock, and MADV_DONTDUMP), between inaccessible guard pages,
  /// with a canary checked on release; `sodium_free` zeroes them and unlocks only their own
  /// pages. (Small calloc buffers used to be locked with sodium_mlock and unlocked with
  /// sodium_munlock, which works on whole pages: releasing one buffer unlocked the page of every
  /// other secret that shared it.) It costs a few system calls per buffer; no buffer is made per
  /// message or frame. Larger buffers hold bulk plaintext: locking them would fault in every page
  /// up front (a measurable start-up cost) and soon exceed RLIMIT_MEMLOCK; they come from calloc
  /// and are zeroed on release. No tool can dump core (`ProcessHardening`), locked or not.
  public static let maxGuardedCount = 64 * 1024

  /// A zero-filled secret buffer of `count` bytes.
  public init(count: Int) {
    precondition(count >= 0)
    ensureSodiumInitialised()
    self.count = count
    // At least one byte, so the pointer is always valid.
    let size = max(count, 1)
    if count <= Self.maxGuardedCount, let memory = sodium_malloc(size) {
      // sodium_malloc fills the buffer with 0xdb.
      sodium_memzero(memory, size)
      pointer = memory
      isGuarded = true
    } else {
      // Large buffers, or sodium_malloc failed (e.g. vm.max_map_count reached by thousands of
      // keys at once): calloc, whose large buffers come as untouched zero pages.
      guard let memory = calloc(size, 1) else { fatalError("out of memory") }
      pointer = memory
      isGuarded = false
    }
  }

  /// A secret buffer holding a copy of `bytes`. The caller remains responsible for its own copy.
  public convenience init(copying bytes: UnsafeRawBufferPointer) {
    self.init(count: bytes.count)
    if let base = bytes.baseAddress, bytes.count > 0 {
      pointer.copyMemory(from: base, byteCount: bytes.count)
    }
  }

  /// A copy of `bytes` (used for test vectors and for values that are already in memory).
  public convenience init(copying bytes: [UInt8]) {
    self.init(count: bytes.count)
    bytes.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
  }

  /// `count` bytes from the system's secure random generator.
  public static func random(count: Int) -> SecretBytes {
    let secret = SecretBytes(count: count)
    secret.withUnsafeMutableBytes { SecureRandom.fill($0) }
    return secret
  }

  deinit {
    if isGuarded {
      sodium_free(pointer)  // zeroes, unlocks and unmaps
    } else {
      sodium_memzero(pointer, max(count, 1))
      free(pointer)
    }
  }

  public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try body(UnsafeRawBufferPointer(start: pointer, count: count))
  }

  public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
    try body(UnsafeMutableRawBufferPointer(start: pointer, count: count))
  }

  /// A new secret holding bytes `range` of this one.
  public func slice(_ range: Range<Int>) -> SecretBytes {
    precondition(range.lowerBound >= 0 && range.upperBound <= count)
    return withUnsafeBytes { SecretBytes(copying: UnsafeRawBufferPointer(rebasing: $0[range])) }
  }

  /// A new secret holding this one followed by `other`.
  public func concatenating(_ other: SecretBytes) -> SecretBytes {
    let joined = SecretBytes(count: count + other.count)
    joined.withUnsafeMutableBytes { out in
      withUnsafeBytes { if $0.count > 0 { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
      other.withUnsafeBytes {
        if $0.count > 0 { (out.baseAddress! + count).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
      }
    }
    return joined
  }

  /// Constant-time comparison (CRYPTO_memcmp); lengths are not secret.
  public func constantTimeEquals(_ other: SecretBytes) -> Bool {
    guard count == other.count else { return false }
    return withUnsafeBytes { a in other.withUnsafeBytes { b in ConstantTime.equals(a, b) } }
  }

  /// Test support only: the bytes as an array. Never call this on a real key outside tests.
  public func copyForTesting() -> [UInt8] {
    withUnsafeBytes { Array($0) }
  }

  public var description: String { "SecretBytes(\(count) bytes, redacted)" }
  public var debugDescription: String { description }
}
