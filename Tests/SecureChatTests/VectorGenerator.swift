import Foundation
import SecureChatCrypto
import SecureChatProtocol
import XCTest

/// Writes docs/vectors when SC_WRITE_VECTORS=1; otherwise skipped. Every bad vector is a good
/// file with one defect, named after the defect (age's habit), with the error class it must give.
final class VectorGenerator: XCTestCase {
  private var written: [String] = []

  func testWriteVectors() throws {
    try XCTSkipUnless(ProcessInfo.processInfo.environment["SC_WRITE_VECTORS"] == "1", "set SC_WRITE_VECTORS=1")
    let root = TestVector.directory
    // known-answer/ holds vectors computed independently (docs/FORMATS.md §7); keep them.
    for generated in ["key-file", "sealed-file", "handshake", "session", "log"] {
      try? FileManager.default.removeItem(atPath: root + "/" + generated)
    }
    try writeKeyFileVectors(root + "/key-file")
    try writeSealedFileVectors(root + "/sealed-file")
    try writeHandshakeVectors(root + "/handshake")
    try writeSessionStreamVectors(root + "/session")
    try writeLogVectors(root + "/log")
    print("wrote \(written.count) vectors to \(root)")
  }

  func write(_ directory: String, _ name: String, _ fields: [(String, String)], _ data: [UInt8]) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try TestVector.render(fields: fields, data: data).write(
      toFile: "\(directory)/\(name).vector", atomically: true, encoding: .utf8)
    written.append(name)
  }

  // MARK: key files (FORMATS.md §1)

  private func writeKeyFileVectors(_ directory: String) throws {
    let keyBytes = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
    let key = KeyFile.Key(type: .psk, secret: SecretBytes(copying: keyBytes))
    let asWritten = KeyFile.serialize(key, comment: "vector").copyForTesting()
    let line = "securechat-key-v1 psk \(keyBytes.hexString)"
    func good(_ name: String, _ text: [UInt8]) throws {
      try write(
        directory, name,
        [
          ("kind", "key-file"), ("expect", "success"), ("type", "psk"), ("key", keyBytes.hexString),
          ("fingerprint", key.fingerprint),
        ], text)
    }
    func bad(_ name: String, _ errorClass: String, _ text: [UInt8]) throws {
      try write(directory, name, [("kind", "key-file"), ("expect", "error \(errorClass)")], text)
    }
    try good("good-as-written", asWritten)
    try good("good-no-comment", Array((line + "\n").utf8))
    try good("good-uppercase-hex", Array("securechat-key-v1 psk \(keyBytes.hexString.uppercased())\n".utf8))
    try good("good-crlf", Array("# comment\r\n\(line)\r\n".utf8))
    try good("good-no-final-newline", Array(line.utf8))
    try good("good-blank-lines", Array("\n\n# a\n\n\(line)\n\n".utf8))
    try bad("empty", "invalid-key", [])
    try bad("comments-only", "invalid-key", Array("# nothing here\n".utf8))
    try bad("two-key-lines", "invalid-key", Array("\(line)\n\(line)\n".utf8))
    try bad("unknown-type", "invalid-key", Array("securechat-key-v1 rsa \(keyBytes.hexString)\n".utf8))
    try bad("future-version", "unsupported", Array("securechat-key-v2 psk \(keyBytes.hexString)\n".utf8))
    try bad("short-key", "invalid-key", Array("securechat-key-v1 psk \(keyBytes.hexString.dropLast(2))\n".utf8))
    try bad("long-key", "invalid-key", Array("securechat-key-v1 psk \(keyBytes.hexString)00\n".utf8))
    try bad("not-hex", "invalid-key", Array("securechat-key-v1 psk \(keyBytes.hexString.dropLast(1))g\n".utf8))
    try bad("two-spaces", "invalid-key", Array("securechat-key-v1  psk \(keyBytes.hexString)\n".utf8))
    try bad("trailing-space", "invalid-key", Array("\(line) \n".utf8))
    try bad("leading-space", "invalid-key", Array(" \(line)\n".utf8))
    try bad("other-format", "invalid-key", Array("-----BEGIN OPENSSH PRIVATE KEY-----\n".utf8))
    try bad("too-large", "invalid-key", Array((String(repeating: "#\n", count: 2100) + line).utf8))
  }

  // MARK: sealed files (FORMATS.md §3 and §4)

  private let keyBytes = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }
  private let wrongKeyBytes = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 17 &+ 3) }
  private let fixedSalt = (0..<32).map { UInt8($0 &+ 0x40) }

  private func plaintext(_ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
  }

  /// Offsets of each frame in a binary sealed file.
  private func frameOffsets(_ file: [UInt8]) -> [Int] {
    var offsets: [Int] = []
    var offset = SealedFile.headerSize
    while offset < file.count {
      offsets.append(offset)
      let length = file[offset + 12..<offset + 16].reduce(0) { $0 << 8 | Int($1) }
      offset += RecordLayer.frameOverhead + length
    }
    return offsets
  }

  private func frameLength(_ file: [UInt8], at offset: Int) -> Int {
    RecordLayer.frameOverhead + file[offset + 12..<offset + 16].reduce(0) { $0 << 8 | Int($1) }
  }

  /// Recomputes tag and CRC of the frame at `offset` after a deliberate change, as only a key
  /// holder can: the defect then survives the CRC and the tag and must be caught by a later check.
  private func reauthenticate(_ file: inout [UInt8], frameAt offset: Int, keys: SealedFile.Keys) throws {
    let authenticator = try FrameAuthenticator(key: keys.frames.authentication)
    let ciphertextCount = frameLength(file, at: offset) - RecordLayer.frameOverhead
    file.withUnsafeMutableBytes {
      _ = authenticator.authenticate(frame: $0.baseAddress! + offset, ciphertextCount: ciphertextCount)
    }
  }

  /// Recomputes only the CRC (what an attacker without the key can do).
  private func fixCRC(_ file: inout [UInt8], frameAt offset: Int) {
    let length = frameLength(file, at: offset)
    let crc = CRC32.checksum(Array(file[offset..<offset + length - 4]))
    for i in 0..<4 { file[offset + length - 4 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * i)) }
  }

  private func writeSealedFileVectors(_ directory: String) throws {
    let fileKey = SecretBytes(copying: keyBytes)
    let keys = try SealedFile.deriveKeys(fileKey: fileKey, salt: fixedSalt)
    func good(_ name: String, _ plain: [UInt8], _ data: [UInt8]) throws {
      try write(
        directory, name,
        [
          ("kind", "sealed-file"), ("key", keyBytes.hexString), ("expect", "success"),
          ("plaintext-size", "\(plain.count)"), ("plaintext-sha256", SHA256.hash(plain).hexString),
        ], data)
    }
    func bad(_ name: String, _ errorClass: String, _ data: [UInt8], key: [UInt8]? = nil) throws {
      try write(
        directory, name,
        [("kind", "sealed-file"), ("key", (key ?? keyBytes).hexString), ("expect", "error \(errorClass)")], data)
    }
    func seal(_ plain: [UInt8]) throws -> [UInt8] { try SealedFile.seal(plain, fileKey: fileKey, salt: fixedSalt) }

    for size in [0, 1, 15, 16, 17, 100, 65535, 65536, 65537, 2 * 65536 + 3] {
      try good("good-\(size)-bytes", plaintext(size), try seal(plaintext(size)))
    }
    let small = try seal(plaintext(100))
    var armored: [UInt8] = []
    var encoder = ArmorEncoder()
    armored = encoder.header()
    small.withUnsafeBytes { encoder.encode($0, into: &armored) }
    encoder.finish(into: &armored)
    try good("good-armored-100-bytes", plaintext(100), armored)
    try good(
      "good-armored-crlf", plaintext(100),
      Array(String(decoding: armored, as: UTF8.self).replacingOccurrences(of: "\n", with: "\r\n").utf8))
    try good("good-armored-trailing-whitespace", plaintext(100), armored + Array("  \n\n".utf8))

    // Not ours, or not our version: exit 2.
    try bad("empty-input", "not-sealed", [])
    try bad(
      "bad-magic", "not-sealed",
      {
        var f = small
        f[0] ^= 0x20
        return f
      }())
    try bad("text-input", "not-sealed", Array("hello, world\n".utf8))
    try bad(
      "header-version-2", "unsupported",
      {
        var f = small
        f[6] = 2
        return f
      }())
    try bad("armor-without-begin", "not-sealed", Array(armored.dropFirst(Armor.beginLine.count + 1)))

    // Header defects.
    try bad("header-truncated", "truncated", Array(small[..<40]))
    try bad("header-only", "truncated", Array(small[..<SealedFile.headerSize]))
    try bad(
      "header-salt-flipped", "authentication",
      {
        var f = small
        f[10] ^= 1
        return f
      }())
    try bad(
      "header-tag-flipped", "authentication",
      {
        var f = small
        f[71] ^= 0x80
        return f
      }())
    try bad(
      "header-reserved-set", "authentication",
      {
        var f = small
        f[7] = 1
        return f
      }())
    try bad("wrong-key", "authentication", small, key: wrongKeyBytes)

    // Frame defects in a three-frame file.
    let big = try seal(plaintext(2 * 65536 + 3))
    let offsets = frameOffsets(big)
    XCTAssertEqual(offsets.count, 3)
    let first = offsets[0]
    let last = offsets[2]
    try bad(
      "frame-ciphertext-flipped", "corrupted",
      {
        var f = big
        f[first + 40] ^= 1
        return f
      }())
    try bad(
      "frame-crc-flipped", "corrupted",
      {
        var f = big
        f[offsets[1] - 1] ^= 1
        return f
      }())
    try bad(
      "frame-tag-flipped-crc-fixed", "authentication",
      {
        var f = big
        f[offsets[1] - 10] ^= 1
        fixCRC(&f, frameAt: first)
        return f
      }())
    try bad(
      "frame-ciphertext-flipped-crc-fixed", "authentication",
      {
        var f = big
        f[first + 100] ^= 1
        fixCRC(&f, frameAt: first)
        return f
      }())
    try bad(
      "frame-iv-flipped-crc-fixed", "authentication",
      {
        var f = big
        f[first + 20] ^= 1
        fixCRC(&f, frameAt: first)
        return f
      }())
    try bad(
      "frame-sequence-changed-crc-fixed", "authentication",
      {
        var f = big
        f[first + 11] ^= 1
        fixCRC(&f, frameAt: first)
        return f
      }())
    try bad(
      "frame-final-flag-set-crc-fixed", "authentication",
      {
        var f = big
        f[first + 2] = 1
        fixCRC(&f, frameAt: first)
        return f
      }())
    for (name, length) in [("zero", 0), ("not-block-multiple", 17), ("too-long", 65568), ("huge", 0xffff_fff0)] {
      try bad(
        "frame-length-\(name)", "bad-length",
        {
          var f = big
          for i in 0..<4 { f[first + 12 + i] = UInt8(truncatingIfNeeded: length >> (24 - 8 * i)) }
          return f
        }())
    }
    try bad("truncated-final-frame-missing", "truncated", Array(big[..<last]))
    try bad("truncated-mid-frame", "truncated", Array(big[..<(offsets[1] + 1000)]))
    try bad("truncated-one-byte-short", "truncated", Array(big.dropLast()))
    try bad("truncated-in-frame-header", "truncated", Array(big[..<(offsets[1] + 10)]))
    try bad("trailing-byte", "trailing-data", big + [0])
    try bad("final-frame-repeated", "trailing-data", big + Array(big[last...]))
    try bad(
      "frames-swapped", "out-of-order",
      Array(big[..<first]) + Array(big[offsets[1]..<last]) + Array(big[first..<offsets[1]]) + Array(big[last...]))
    try bad("frame-dropped", "out-of-order", Array(big[..<offsets[1]]) + Array(big[last...]))
    try bad(
      "frame-replayed", "out-of-order",
      Array(big[..<offsets[1]]) + Array(big[first..<offsets[1]]) + Array(big[offsets[1]...]))
    let other = try SealedFile.seal(plaintext(2 * 65536 + 3).reversed(), fileKey: fileKey)
    let otherOffsets = frameOffsets(other)
    try bad(
      "frame-spliced-from-other-file", "authentication",
      Array(big[..<offsets[1]]) + Array(other[otherOffsets[1]..<otherOffsets[2]]) + Array(big[last...]))

    // Defects only a key holder can make: they pass CRC and tag, and the rules after them must hold.
    try bad(
      "short-chunk-before-final", "malformed",
      {
        let sealer = try FrameSealer(keys: keys.frames)
        return try SealedFile.header(salt: fixedSalt, keys: keys) + sealer.seal(plaintext(100), isFinal: false)
          + sealer.seal(plaintext(10), isFinal: true)
      }())
    try bad(
      "empty-final-after-data", "malformed",
      {
        let sealer = try FrameSealer(keys: keys.frames)
        return try SealedFile.header(salt: fixedSalt, keys: keys) + sealer.seal(plaintext(65536), isFinal: false)
          + sealer.seal([], isFinal: true)
      }())
    try bad(
      "frame-type-unknown", "unsupported",
      {
        var f = small
        f[SealedFile.headerSize + 1] = 0x7f
        try reauthenticate(&f, frameAt: SealedFile.headerSize, keys: keys)
        return f
      }())
    try bad(
      "frame-version-2", "unsupported",
      {
        var f = small
        f[SealedFile.headerSize] = 2
        try reauthenticate(&f, frameAt: SealedFile.headerSize, keys: keys)
        return f
      }())
    try bad(
      "bad-padding-under-valid-tag", "malformed",
      {
        var f = small
        f[SealedFile.headerSize + 32 + 100] ^= 0xff  // last ciphertext block → garbage padding
        try reauthenticate(&f, frameAt: SealedFile.headerSize, keys: keys)
        return f
      }())
    try bad(
      "frame-plaintext-over-limit", "malformed",
      {
        // 65551 bytes + a one-byte pad fill L = 65552 exactly: the padding is valid, the size is not.
        let cipher = try AES256CBC(key: keys.frames.encryption, direction: .encrypt)
        let iv = [UInt8](repeating: 7, count: 16)
        let ciphertext = Array(cipher.encrypt(iv: iv, plaintext: plaintext(65551) + [1]).prefix(65552))
        var frame = [1, 1, 1, 0] + [UInt8](repeating: 0, count: 8) + [0, 1, 0, 0x10] + iv + ciphertext
        frame += [UInt8](repeating: 0, count: 36)
        var f = try SealedFile.header(salt: fixedSalt, keys: keys) + frame
        try reauthenticate(&f, frameAt: SealedFile.headerSize, keys: keys)
        return f
      }())
    try bad(
      "no-final-flag-on-last-frame", "truncated",
      {
        let sealer = try FrameSealer(keys: keys.frames)
        return try SealedFile.header(salt: fixedSalt, keys: keys) + sealer.seal(plaintext(65536), isFinal: false)
      }())

    // Armor defects.
    let text = String(decoding: armored, as: UTF8.self)
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    try bad(
      "armor-bad-character", "malformed",
      Array(text.replacingOccurrences(of: lines[1], with: "*" + lines[1].dropFirst()).utf8))
    try bad("armor-missing-end", "truncated", Array(lines[0..<(lines.count - 2)].joined(separator: "\n").utf8) + [10])
    try bad(
      "armor-rewrapped", "malformed",
      Array(
        (lines[0] + "\n" + lines[1].prefix(60) + "\n" + lines[1].dropFirst(60) + lines[2...].joined(separator: "\n"))
          .utf8))
    try bad("armor-garbage-after-end", "trailing-data", armored + Array("x\n".utf8))
    lines[1] = String(lines[1].dropFirst(4))
    try bad("armor-short-first-line", "malformed", Array(lines.joined(separator: "\n").utf8))
  }
}
