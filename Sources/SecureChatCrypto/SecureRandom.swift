import CSodium

/// libsodium must be initialised once before use; a Swift global `let` runs its
/// initialiser exactly once, thread-safely, on first use.
private let sodiumInitResult: Int32 = sodium_init()

func ensureSodiumInitialised() {
  precondition(sodiumInitResult >= 0, "libsodium could not be initialised")
}

/// Randomness comes from libsodium's `randombytes_buf` (getrandom(2) on Linux).
public enum SecureRandom {
  public static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
    ensureSodiumInitialised()
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    randombytes_buf(base, buffer.count)
  }

  /// Public random bytes (salts, IVs, challenges). For keys use `SecretBytes.random`.
  public static func bytes(count: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    out.withUnsafeMutableBytes { fill($0) }
    return out
  }
}

/// Hands out fresh random IVs from a buffer refilled in blocks, so that sealing many
/// small frames does not make one getrandom(2) system call per frame.
public struct RandomIVSource {
  public static let ivSize = 16
  private static let blockIVCount = 256
  private var pool: [UInt8]
  private var next: Int

  public init() {
    pool = [UInt8](repeating: 0, count: Self.ivSize * Self.blockIVCount)
    next = pool.count
  }

  /// Writes a fresh 16-byte IV to `destination`. Every byte of the pool is used once.
  public mutating func nextIV(into destination: UnsafeMutableRawPointer) {
    if next == pool.count {
      pool.withUnsafeMutableBytes { SecureRandom.fill($0) }
      next = 0
    }
    pool.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress! + next, byteCount: Self.ivSize) }
    next += Self.ivSize
  }
}
