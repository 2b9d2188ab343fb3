import SecureChatCrypto

/// The record layer of docs/FORMATS.md §2, shared by sealed files and live sessions.
///
///     0   version (1)        1  type (1)   2  flags (1)   3  reserved (1)
///     4   sequence number (8)              12 ciphertext length L (4)
///     16  IV (16)            32 ciphertext (L)
///     32+L  HMAC-SHA256 tag over bytes 0..<32+L (32)
///     64+L  CRC-32 over bytes 0..<64+L (4)
public enum RecordLayer {
  public static let version: UInt8 = 1
  public static let headerSize = 32
  public static let tagSize = 32
  public static let crcSize = 4
  /// Bytes a frame adds beyond its ciphertext.
  public static let frameOverhead = headerSize + tagSize + crcSize
  /// FORMATS.md §2: at most 64 KiB of plaintext per frame…
  public static let maxPlaintextCount = 65536
  /// …so at most 64 KiB + one block of padding of ciphertext. Checked before any allocation.
  public static let maxCiphertextCount = maxPlaintextCount + AES256CBC.blockSize
  public static let minCiphertextCount = AES256CBC.blockSize
  public static let maxFrameSize = frameOverhead + maxCiphertextCount

  public static let finalFlag: UInt8 = 0x01

  @inline(__always)
  public static func frameSize(plaintextCount: Int) -> Int {
    frameOverhead + AES256CBC.ciphertextCount(forPlaintextCount: plaintextCount)
  }

  /// The length of the frame that starts at `bytes`, or nil when fewer than a header's worth of
  /// bytes are there. Throws when the announced length is outside §2's limits, so a hostile
  /// length is an error before anything is allocated or awaited.
  public static func frameLength(startingAt bytes: UnsafeRawBufferPointer) throws -> Int? {
    guard bytes.count >= headerSize else { return nil }
    let ciphertextCount = Int(BigEndian.loadUInt32(bytes.baseAddress! + 12))
    guard ciphertextCount >= minCiphertextCount, ciphertextCount <= maxCiphertextCount,
      ciphertextCount % AES256CBC.blockSize == 0
    else { throw ProtocolError.badLength(ciphertextCount) }
    return frameOverhead + ciphertextCount
  }
}

/// FORMATS.md §2.1, byte 1. Which types a container allows is its rule (§2.3 step 8): sealed
/// files carry data frames only; session streams data and receipt frames (PROTOCOL.md §6.1).
public enum FrameType: UInt8, Sendable {
  case data = 0x01
  /// A delivery receipt: 8 bytes of plaintext, the big-endian number of a message of the other
  /// direction of the session (PROTOCOL.md §6.5). Never final.
  case receipt = 0x02
}

/// The two keys of one direction of a record-layer stream.
public struct FrameKeys: Sendable {
  public let encryption: SecretBytes
  public let authentication: SecretBytes

  public init(encryption: SecretBytes, authentication: SecretBytes) {
    precondition(encryption.count == 32 && authentication.count == 32)
    self.encryption = encryption
    self.authentication = authentication
  }
}

/// First half of sealing a frame: header, fresh IV, ciphertext. Split from the tag so that a
/// sealer can run AES-CBC (serial by nature) and HMAC on two cores.
public final class FrameEncryptor {
  private let cipher: AES256CBC
  private var ivSource = RandomIVSource()
  /// IVs to use before random ones: only for reproducible test vectors (docs/PROTOCOL.md §8).
  private var fixedIVs: [[UInt8]]

  public init(key: SecretBytes, fixedIVs: [[UInt8]] = []) throws {
    precondition(fixedIVs.allSatisfy { $0.count == AES256CBC.ivSize })
    cipher = try AES256CBC(key: key, direction: .encrypt)
    self.fixedIVs = fixedIVs.reversed()
  }

  /// Writes header, IV and ciphertext of a frame at `frame`, which must have room for
  /// `RecordLayer.frameSize(plaintextCount:)` bytes. Returns the ciphertext length.
  public func encrypt(
    plaintext: UnsafeRawBufferPointer, type: FrameType, isFinal: Bool, sequence: UInt64,
    into frame: UnsafeMutableRawPointer
  ) -> Int {
    precondition(plaintext.count <= RecordLayer.maxPlaintextCount)
    let ciphertextCount = AES256CBC.ciphertextCount(forPlaintextCount: plaintext.count)
    frame.storeBytes(of: RecordLayer.version, toByteOffset: 0, as: UInt8.self)
    frame.storeBytes(of: type.rawValue, toByteOffset: 1, as: UInt8.self)
    frame.storeBytes(of: isFinal ? RecordLayer.finalFlag : 0, toByteOffset: 2, as: UInt8.self)
    frame.storeBytes(of: 0, toByteOffset: 3, as: UInt8.self)
    BigEndian.store(sequence, at: frame + 4)
    BigEndian.store(UInt32(ciphertextCount), at: frame + 12)
    if let iv = fixedIVs.popLast() {
      iv.withUnsafeBytes { (frame + 16).copyMemory(from: $0.baseAddress!, byteCount: AES256CBC.ivSize) }
    } else {
      ivSource.nextIV(into: frame + 16)
    }
    let written = cipher.encrypt(iv: frame + 16, plaintext: plaintext, into: frame + RecordLayer.headerSize)
    assert(written == ciphertextCount)
    return ciphertextCount
  }
}

/// Second half of sealing: the tag over header, IV and ciphertext, then the CRC over all of it.
public final class FrameAuthenticator {
  private let mac: HMACSHA256

  public init(key: SecretBytes) throws {
    mac = try HMACSHA256(key: key)
  }

  /// Completes the frame at `frame` whose ciphertext is `ciphertextCount` bytes; returns its size.
  @discardableResult
  public func authenticate(frame: UnsafeMutableRawPointer, ciphertextCount: Int) -> Int {
    let macEnd = RecordLayer.headerSize + ciphertextCount
    mac.begin()
    mac.update(UnsafeRawBufferPointer(start: frame, count: macEnd))
    mac.finish(into: frame + macEnd)
    let crcEnd = macEnd + RecordLayer.tagSize
    let crc = CRC32.checksum(UnsafeRawBufferPointer(start: frame, count: crcEnd))
    BigEndian.store(crc, at: frame + crcEnd)
    return crcEnd + RecordLayer.crcSize
  }
}

/// Seals a whole stream of frames in one direction, numbering them from 0.
public final class FrameSealer {
  private let encryptor: FrameEncryptor
  private let authenticator: FrameAuthenticator
  public private(set) var nextSequence: UInt64 = 0
  public private(set) var isFinished = false

  public init(keys: FrameKeys, fixedIVs: [[UInt8]] = []) throws {
    encryptor = try FrameEncryptor(key: keys.encryption, fixedIVs: fixedIVs)
    authenticator = try FrameAuthenticator(key: keys.authentication)
  }

  /// Seals `plaintext` into `frame` (room for `RecordLayer.frameSize(plaintextCount:)` bytes);
  /// returns the frame's size. Nothing may be sealed after the final frame.
  public func seal(
    _ plaintext: UnsafeRawBufferPointer, type: FrameType = .data, isFinal: Bool, into frame: UnsafeMutableRawPointer
  ) -> Int {
    precondition(!isFinished, "a frame was sealed after the final frame")
    let ciphertextCount = encryptor.encrypt(
      plaintext: plaintext, type: type, isFinal: isFinal, sequence: nextSequence, into: frame)
    nextSequence += 1
    isFinished = isFinal
    return authenticator.authenticate(frame: frame, ciphertextCount: ciphertextCount)
  }

  /// Convenience for small messages and tests.
  /// Hands out the next `count` sequence numbers for data frames (none final) that
  /// `sealReserved` seals, on this sealer or on another with the same keys (another thread's:
  /// sc-seal -s seals a long read's lines on two cores). Returns the first.
  public func reserve(_ count: Int) -> UInt64 {
    precondition(!isFinished, "frames were reserved after the final frame")
    let first = nextSequence
    nextSequence += UInt64(count)
    return first
  }

  /// Seals a data frame, not final, at a sequence number that `reserve` handed out. Each number
  /// must be sealed exactly once, by whichever sealer, and the frames sent in sequence order.
  public func sealReserved(
    _ plaintext: UnsafeRawBufferPointer, sequence: UInt64, into frame: UnsafeMutableRawPointer
  ) -> Int {
    let ciphertextCount = encryptor.encrypt(
      plaintext: plaintext, type: .data, isFinal: false, sequence: sequence, into: frame)
    return authenticator.authenticate(frame: frame, ciphertextCount: ciphertextCount)
  }

  public func seal(_ plaintext: [UInt8], type: FrameType = .data, isFinal: Bool) -> [UInt8] {
    var frame = [UInt8](repeating: 0, count: RecordLayer.frameSize(plaintextCount: plaintext.count))
    let size = plaintext.withUnsafeBytes { p in
      frame.withUnsafeMutableBytes { seal(p, type: type, isFinal: isFinal, into: $0.baseAddress!) }
    }
    precondition(size == frame.count)
    return frame
  }
}

/// What the verifier learned about an authentic frame.
public struct VerifiedFrame: Sendable, Equatable {
  public let type: FrameType
  public let isFinal: Bool
  public let sequence: UInt64
  public let ciphertextCount: Int
}

/// First half of opening: CRC, then tag (constant time), then the authenticated header fields
/// and the sequence number — all before a single byte is decrypted (FORMATS.md §2.3).
public final class FrameVerifier {
  private let mac: HMACSHA256
  public private(set) var expectedSequence: UInt64 = 0
  public private(set) var sawFinal = false

  public init(key: SecretBytes) throws {
    mac = try HMACSHA256(key: key)
  }

  /// `frame` must be exactly one frame, as measured by `RecordLayer.frameLength(startingAt:)`.
  public func verify(frame: UnsafeRawBufferPointer) throws -> VerifiedFrame {
    try verify(frame: frame, checkingTag: true)
  }

  /// `checkingTag: false` is for a caller that checks the tag later, with a `FrameTagChecker`
  /// (on another core), before it decrypts or releases anything of the frame, and that reports
  /// a bad tag before any error of a later frame. The checks after the tag (§2.3 steps 6, 7)
  /// then run on a header not yet authenticated; if one fails, the tag is checked first, so the
  /// error reported is still the one of §2.3's order.
  public func verify(frame: UnsafeRawBufferPointer, checkingTag: Bool) throws -> VerifiedFrame {
    guard !sawFinal else { throw ProtocolError.trailingData }
    let base = frame.baseAddress!
    let ciphertextCount = frame.count - RecordLayer.frameOverhead
    let macEnd = RecordLayer.headerSize + ciphertextCount
    let crcEnd = macEnd + RecordLayer.tagSize

    let crc = CRC32.checksum(UnsafeRawBufferPointer(start: base, count: crcEnd))
    guard crc == BigEndian.loadUInt32(base + crcEnd) else { throw ProtocolError.corrupted }

    if checkingTag { try checkTag(frame) }
    do {
      return try checkAuthenticatedHeader(frame)
    } catch {
      if !checkingTag { try checkTag(frame) }
      throw error
    }
  }

  /// §2.3 step 5.
  func checkTag(_ frame: UnsafeRawBufferPointer) throws {
    guard FrameTagChecker.tagIsValid(frame, mac: mac) else { throw FrameTagChecker.failure }
  }

  /// §2.3 steps 6 and 7, on a header whose tag has been (or will be) verified.
  private func checkAuthenticatedHeader(_ frame: UnsafeRawBufferPointer) throws -> VerifiedFrame {
    let base = frame.baseAddress!
    let ciphertextCount = frame.count - RecordLayer.frameOverhead
    // From here on the header is authentic: a bad field is a peer we do not understand.
    let version = frame[0]
    let flags = frame[2]
    guard version == RecordLayer.version else { throw ProtocolError.unsupported("frame version \(version)") }
    guard let type = FrameType(rawValue: frame[1]) else { throw ProtocolError.unsupported("frame type \(frame[1])") }
    guard flags & ~RecordLayer.finalFlag == 0 else { throw ProtocolError.unsupported("frame flags \(flags)") }
    guard frame[3] == 0 else { throw ProtocolError.unsupported("frame reserved byte \(frame[3])") }
    let sequence = BigEndian.loadUInt64(base + 4)
    guard sequence == expectedSequence else {
      throw ProtocolError.outOfOrder(expected: expectedSequence, received: sequence)
    }
    expectedSequence += 1
    let isFinal = flags & RecordLayer.finalFlag != 0
    sawFinal = isFinal
    return VerifiedFrame(type: type, isFinal: isFinal, sequence: sequence, ciphertextCount: ciphertextCount)
  }
}

/// Second half of opening: decrypts a frame that `FrameVerifier` accepted.
/// §2.3 step 5 on its own, with its own HMAC context: for the thread that checks the tags of
/// frames whose other checks ran elsewhere (`FrameVerifier.verify(frame:checkingTag: false)`).
public final class FrameTagChecker {
  private let mac: HMACSHA256

  public init(key: SecretBytes) throws {
    mac = try HMACSHA256(key: key)
  }

  /// Throws `authenticationFailed` unless the frame's tag is valid.
  public func check(frame: UnsafeRawBufferPointer) throws {
    guard Self.tagIsValid(frame, mac: mac) else { throw Self.failure }
  }

  static func tagIsValid(_ frame: UnsafeRawBufferPointer, mac: HMACSHA256) -> Bool {
    let macEnd = frame.count - RecordLayer.tagSize - RecordLayer.crcSize
    return mac.verify(
      UnsafeRawBufferPointer(start: frame.baseAddress!, count: macEnd),
      expectedTag: UnsafeRawBufferPointer(start: frame.baseAddress! + macEnd, count: RecordLayer.tagSize))
  }

  // The key has already been proved (by the file's header or by the handshake): a frame that
  // does not verify was changed, or does not belong here.
  static var failure: ProtocolError {
    .authenticationFailed("a frame does not verify: it was tampered with, or is not from here")
  }
}

public final class FrameDecryptor {
  private let cipher: AES256CBC

  public init(key: SecretBytes) throws {
    cipher = try AES256CBC(key: key, direction: .decrypt)
  }

  /// Decrypts the verified `frame` into `plaintext` (room for its ciphertext length); returns
  /// the plaintext length. A bad padding under a good tag can only come from the key holder.
  public func decrypt(frame: UnsafeRawBufferPointer, into plaintext: UnsafeMutableRawPointer) throws -> Int {
    let ciphertextCount = frame.count - RecordLayer.frameOverhead
    guard
      let count = cipher.decrypt(
        iv: frame.baseAddress! + 16,
        ciphertext: UnsafeRawBufferPointer(start: frame.baseAddress! + RecordLayer.headerSize, count: ciphertextCount),
        into: plaintext)
    else { throw ProtocolError.malformed("bad padding under a valid tag") }
    // Padding may be shorter than a block under a valid tag: enforce the §2.2 plaintext limit too.
    guard count <= RecordLayer.maxPlaintextCount else {
      throw ProtocolError.malformed("frame carries too much plaintext")
    }
    return count
  }
}

/// Verifies and decrypts a stream of frames one at a time (the serial path; used for small
/// messages and tests, while the file tool pipelines the two halves on two threads).
public final class FrameOpener {
  public let verifier: FrameVerifier
  private let decryptor: FrameDecryptor

  public init(keys: FrameKeys) throws {
    verifier = try FrameVerifier(key: keys.authentication)
    decryptor = try FrameDecryptor(key: keys.encryption)
  }

  public func open(frame: [UInt8]) throws -> (plaintext: [UInt8], frame: VerifiedFrame) {
    try frame.withUnsafeBytes { try openInPlace($0) }
  }

  /// Opens exactly one frame held in `bytes`.
  public func openInPlace(_ bytes: UnsafeRawBufferPointer) throws -> (plaintext: [UInt8], frame: VerifiedFrame) {
    guard let length = try RecordLayer.frameLength(startingAt: bytes), length == bytes.count else {
      throw bytes.count < RecordLayer.headerSize ? ProtocolError.truncated : ProtocolError.malformed("frame size")
    }
    let verified = try verifier.verify(frame: bytes)
    var plaintext = [UInt8](repeating: 0, count: verified.ciphertextCount)
    let count = try plaintext.withUnsafeMutableBytes { try decryptor.decrypt(frame: bytes, into: $0.baseAddress!) }
    plaintext.removeLast(plaintext.count - count)
    return (plaintext, verified)
  }
}
