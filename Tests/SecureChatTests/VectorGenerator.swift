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
    for generated in ["key-file", "sealed-file", "handshake", "session", "log", "public-log", "peers-file"] {
      try? FileManager.default.removeItem(atPath: root + "/" + generated)
    }
    try writeKeyFileVectors(root + "/key-file")
    try writeSealedFileVectors(root + "/sealed-file")
    try writeHandshakeVectors(root + "/handshake")
    // A responder with several keys, and the peers file: PeersVectorGenerator.swift.
    try PeersVectors.writeResponderKeysVectors(root + "/handshake", write: write)
    try PeersVectors.writePeersFileVectors(root + "/peers-file", write: write)
    // Continuing a verified session (PROTOCOL.md §4.7, §8.5): ContinuationVectorGenerator.swift.
    try ContinuationVectors.write(root + "/handshake", write: write)
    try writeSessionStreamVectors(root + "/session")
    try writeSessionReceiptVectors(root + "/session")
    try writeLogVectors(root + "/log")
    // Public logs (FORMATS.md §9.8.7): PublicLogVectorGenerator.swift.
    try writePublicLogVectors(root + "/public-log")
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
    /// A valid key file of one type, given to a tool that needs another (§1.2).
    func wrongType(_ name: String, _ key: KeyFile.Key, neededType: KeyFile.KeyType) throws {
      try write(
        directory, name,
        [("kind", "key-file"), ("expect", "error wrong-key-type"), ("needed-type", neededType.rawValue)],
        KeyFile.serialize(key).copyForTesting())
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
    // §1.1's order: lines in order, the key line checked when it is met, so the first line's class wins.
    try bad(
      "future-version-then-second-key-line", "unsupported",
      Array("securechat-key-v2 psk \(keyBytes.hexString)\n\(line)\n".utf8))
    try bad(
      "second-key-line-of-future-version", "invalid-key",
      Array("\(line)\nsecurechat-key-v2 psk \(keyBytes.hexString)\n".utf8))
    // §1.1: one CR at the end of the last line is removed even without an LF; a CR alone ends no line.
    try good("good-cr-no-final-newline", Array("\(line)\r".utf8))
    try bad("cr-is-not-a-line-end", "invalid-key", Array("# comment\r\(line)\n".utf8))
    try bad("short-key", "invalid-key", Array("securechat-key-v1 psk \(keyBytes.hexString.dropLast(2))\n".utf8))
    try bad("long-key", "invalid-key", Array("securechat-key-v1 psk \(keyBytes.hexString)00\n".utf8))
    try bad("not-hex", "invalid-key", Array("securechat-key-v1 psk \(keyBytes.hexString.dropLast(1))g\n".utf8))
    try bad("two-spaces", "invalid-key", Array("securechat-key-v1  psk \(keyBytes.hexString)\n".utf8))
    try bad("trailing-space", "invalid-key", Array("\(line) \n".utf8))
    try bad("leading-space", "invalid-key", Array(" \(line)\n".utf8))
    try bad("other-format", "invalid-key", Array("-----BEGIN OPENSSH PRIVATE KEY-----\n".utf8))
    try bad("too-large", "invalid-key", Array((String(repeating: "#\n", count: 2100) + line).utf8))

    // The size limit exactly: 4096 bytes pass, 4097 do not (the key line last, without a newline).
    let filler = KeyFile.maxSize - line.utf8.count
    try good("good-4096-bytes", Array((String(repeating: "#", count: filler - 1) + "\n" + line).utf8))
    try bad("one-byte-too-large", "invalid-key", Array((String(repeating: "#", count: filler) + "\n" + line).utf8))
    // Versions and types.
    try bad("version-0", "unsupported", Array("securechat-key-v0 psk \(keyBytes.hexString)\n".utf8))
    try bad("type-uppercase", "invalid-key", Array("securechat-key-v1 PSK \(keyBytes.hexString)\n".utf8))
    try bad("psk-extra-field", "invalid-key", Array("\(line) 0\n".utf8))
    try bad("tab-separator", "invalid-key", Array("securechat-key-v1 psk\t\(keyBytes.hexString)\n".utf8))
    try bad("cr-inside-line", "invalid-key", Array("securechat-key-v1 psk\r \(keyBytes.hexString)\n".utf8))
    try bad(
      "nul-in-key", "invalid-key", Array("securechat-key-v1 psk \(keyBytes.hexString.dropLast(1))".utf8) + [0, 0x0a])

    // Log key types (§1.2): log-verify has nothing after the key, log-seal the log position.
    let tagBytes = (0..<32).map { UInt8(truncatingIfNeeded: 0xc0 &+ $0) }
    let verifyKey = KeyFile.Key(type: .logVerify, secret: SecretBytes(copying: keyBytes))
    let sealKey = KeyFile.Key(
      type: .logSeal, secret: SecretBytes(copying: keyBytes),
      logPosition: KeyFile.LogPosition(nextIndex: 7, previousTag: tagBytes))
    try write(
      directory, "good-log-verify",
      [
        ("kind", "key-file"), ("expect", "success"), ("type", "log-verify"), ("key", keyBytes.hexString),
        ("fingerprint", verifyKey.fingerprint),
      ], KeyFile.serialize(verifyKey, comment: "vector").copyForTesting())
    try write(
      directory, "good-log-seal",
      [
        ("kind", "key-file"), ("expect", "success"), ("type", "log-seal"), ("key", keyBytes.hexString),
        ("fingerprint", sealKey.fingerprint), ("next-index", "7"), ("previous-tag", tagBytes.hexString),
      ], KeyFile.serialize(sealKey).copyForTesting())
    let sealLine = "securechat-key-v1 log-seal \(keyBytes.hexString)"
    try bad(
      "log-verify-extra-field", "invalid-key", Array("securechat-key-v1 log-verify \(keyBytes.hexString) 0\n".utf8))
    try bad("log-seal-missing-position", "invalid-key", Array("\(sealLine)\n".utf8))
    try bad("log-seal-missing-previous-tag", "invalid-key", Array("\(sealLine) 7\n".utf8))
    try bad("log-seal-index-empty", "invalid-key", Array("\(sealLine)  \(tagBytes.hexString)\n".utf8))
    try bad("log-seal-index-not-digits", "invalid-key", Array("\(sealLine) 7a \(tagBytes.hexString)\n".utf8))
    try bad(
      "log-seal-index-20-digits", "invalid-key",
      Array("\(sealLine) \(String(repeating: "1", count: 20)) \(tagBytes.hexString)\n".utf8))
    try bad("log-seal-index-negative", "invalid-key", Array("\(sealLine) -1 \(tagBytes.hexString)\n".utf8))
    try bad(
      "log-seal-previous-tag-short", "invalid-key", Array("\(sealLine) 7 \(tagBytes.hexString.dropLast())\n".utf8))
    try bad(
      "log-seal-previous-tag-not-hex", "invalid-key", Array("\(sealLine) 7 \(tagBytes.hexString.dropLast())g\n".utf8))

    // An identity (§1.2, §12): the key is the X25519 secret; sc-keygen -y prints the public key.
    let identity = KeyFile.Key(type: .identity, secret: SecretBytes(copying: keyBytes))
    try write(
      directory, "good-identity",
      [
        ("kind", "key-file"), ("expect", "success"), ("type", "identity"), ("key", keyBytes.hexString),
        ("fingerprint", identity.fingerprint), ("public-key", try PublicKey(identitySecret: identity.secret).text),
      ],
      KeyFile.serialize(
        identity, commentLines: ["public key: \(try PublicKey(identitySecret: identity.secret).text)"]
      ).copyForTesting())
    try wrongType("identity-where-psk-needed", identity, neededType: .psk)

    // Valid key files of the wrong type for the tool (§1.2): psk for sc-seal, sc-open and
    // sc-handshake -k; log-verify for sc-logcheck -k; log-seal for --log-key.
    try wrongType("log-verify-where-psk-needed", verifyKey, neededType: .psk)
    try wrongType("log-seal-where-psk-needed", sealKey, neededType: .psk)
    try wrongType("psk-where-log-verify-needed", key, neededType: .logVerify)
    try wrongType("log-seal-where-log-verify-needed", sealKey, neededType: .logVerify)
    try wrongType("psk-where-log-seal-needed", key, neededType: .logSeal)
    try wrongType("log-verify-where-log-seal-needed", verifyKey, neededType: .logSeal)
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
      "header-version-3", "unsupported",
      {
        // Version 2 is a file sealed to recipients (FORMATS.md §12.2): -k refuses it as wrong-key-type.
        var f = small
        f[6] = 3
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
      "frame-type-receipt-under-valid-tag", "malformed",
      {
        // A receipt frame (PROTOCOL.md §6.5) is valid only in session streams.
        let sealer = try FrameSealer(keys: keys.frames)
        return try SealedFile.header(salt: fixedSalt, keys: keys)
          + sealer.seal(SessionReceipt.plaintext(acknowledging: 0), type: .receipt, isFinal: true)
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

    try writeKeyHolderSealedFileVectors(directory, keys: keys, bad: bad)

    // Armor defects.
    let text = String(decoding: armored, as: UTF8.self)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
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
    for (name, errorClass, data) in ArmorEdgeVectors.cases(armored: armored) { try bad(name, errorClass, data) }
  }

  /// Header fields out of range under a valid tag, bad padding under a valid tag, length fields
  /// that lie, early final flags and a header from another file. Built with fixed IVs and salts,
  /// so regenerating them gives the same bytes.
  private func writeKeyHolderSealedFileVectors(
    _ directory: String, keys: SealedFile.Keys, bad: (String, String, [UInt8], [UInt8]?) throws -> Void
  ) throws {
    let header = try SealedFile.header(salt: fixedSalt, keys: keys)
    let body = plaintext(100)
    func frame(
      version: UInt8 = 1, type: UInt8 = 1, flags: UInt8 = 1, reserved: UInt8 = 0, sequence: UInt64 = 0,
      padded: [UInt8]? = nil
    ) throws -> [UInt8] {
      try ForgedFrame.make(
        keys: keys.frames, version: version, type: type, flags: flags, reserved: reserved, sequence: sequence,
        paddedPlaintext: padded ?? ForgedFrame.pkcs7(body), iv: ForgedFrame.iv(sequence))
    }
    let good = header + (try frame())
    XCTAssertEqual(try SealedFile.open(good, fileKey: SecretBytes(copying: keyBytes)), body)

    var reservedHeader = SealedFile.magic + [SealedFile.version, 1] + fixedSalt
    reservedHeader += try HMACSHA256(key: keys.header).authenticate(reservedHeader)
    try bad("header-reserved-set-under-valid-tag", "unsupported", reservedHeader + (try frame()), nil)
    try bad("frame-flags-reserved-bit-under-valid-tag", "unsupported", header + (try frame(flags: 0x03)), nil)
    try bad("frame-reserved-byte-under-valid-tag", "unsupported", header + (try frame(reserved: 0x01)), nil)
    try bad("first-frame-sequence-1-under-valid-tag", "out-of-order", header + (try frame(sequence: 1)), nil)
    var attacked = good
    attacked[SealedFile.headerSize + 2] |= 0x02
    ForgedFrame.fixCRC(&attacked, frameAt: SealedFile.headerSize)
    try bad("frame-flags-reserved-bit-set-crc-fixed", "authentication", attacked, nil)
    attacked = good
    attacked[SealedFile.headerSize + 3] = 0x01
    ForgedFrame.fixCRC(&attacked, frameAt: SealedFile.headerSize)
    try bad("frame-reserved-byte-set-crc-fixed", "authentication", attacked, nil)

    // PKCS#7 (§2.3 step 9) broken three ways under a valid tag: a last byte of 0, a last byte
    // over 16, and a last byte of 11 before ten bytes of 12.
    for (name, padding) in [
      ("zero", [UInt8](repeating: 0, count: 12)), ("over-block", [UInt8](repeating: 0x11, count: 12)),
      ("inconsistent", [UInt8](repeating: 0x0c, count: 11) + [0x0b]),
    ] {
      try bad("bad-padding-\(name)-under-valid-tag", "malformed", header + (try frame(padded: body + padding)), nil)
    }

    // Length fields that lie but are in range: shorter than the frame (the CRC is then read from
    // inside the ciphertext), longer than the input.
    let full = try frame(flags: 0, padded: ForgedFrame.pkcs7(plaintext(65536)))
    let last = try frame(sequence: 1)
    var short = header + full + last
    ForgedFrame.setLength(&short, frameAt: SealedFile.headerSize, 65536)
    try bad("frame-length-short", "corrupted", short, nil)
    var long = good
    ForgedFrame.setLength(&long, frameAt: SealedFile.headerSize, 65552)
    try bad("frame-length-long", "truncated", long, nil)

    // A full first chunk that claims to be final: everything after it is trailing data.
    try bad(
      "final-flag-on-first-of-two-frames", "trailing-data",
      header + (try frame(flags: 1, padded: ForgedFrame.pkcs7(plaintext(65536)))) + last, nil)

    // The header of another file sealed with the same key: the frames do not verify under its keys.
    let otherSalt = fixedSalt.map { $0 ^ 0xff }
    let otherHeader = try SealedFile.header(
      salt: otherSalt, keys: try SealedFile.deriveKeys(fileKey: SecretBytes(copying: keyBytes), salt: otherSalt))
    try bad("header-from-other-file", "authentication", otherHeader + (try frame()), nil)
  }
}

// MARK: session streams with receipts (PROTOCOL.md §6.5)

extension VectorGenerator {
  /// Receipt frames in alice's direction, as bob reads it: the same keys and IVs as the other
  /// session vectors (HandshakeVectorGenerator.swift), so the files are reproducible. A vector
  /// that releases receipts lists their message numbers in `receipts` (absent: none).
  func writeSessionReceiptVectors(_ directory: String) throws {
    let keys = try (0..<4).map { index in
      try HKDFSHA256.derive(
        inputKeyMaterial: SecretBytes(copying: HandshakeVectors.psk), salt: [],
        info: Array("session vector key \(index)".utf8), outputCount: 32)
    }
    let inbound = FrameKeys(encryption: keys[0], authentication: keys[1])
    let outbound = FrameKeys(encryption: keys[2], authentication: keys[3])
    let ivs = (0..<16).map { i in (0..<16).map { UInt8(truncatingIfNeeded: 0x80 &+ i &* 16 &+ $0) } }
    func vector(_ name: String, _ expect: String, released: String, receipts: [UInt64], _ stream: [UInt8]) throws {
      var fields = [
        ("kind", "session-stream"), ("expect", expect),
        ("receive-encryption", keys[0].copyForTesting().hexString),
        ("receive-authentication", keys[1].copyForTesting().hexString),
        ("released-size", "\(released.utf8.count)"),
        ("released-sha256", SHA256.hash(Array(released.utf8)).hexString),
      ]
      if !receipts.isEmpty { fields.append(("receipts", receipts.map(String.init).joined(separator: " "))) }
      try write(directory, name, fields, stream)
    }
    enum Unit {
      case message(String)
      case receipt(UInt64)
      /// A receipt frame with any plaintext and flags, as only a key holder can make one.
      case raw([UInt8], final: Bool)
    }
    /// Seals `units` in order with sequence numbers from 0, then (if `final`) the final frame.
    func frames(_ units: [Unit], keys: FrameKeys = inbound, final: Bool = true) throws -> [[UInt8]] {
      let sealer = try FrameSealer(keys: keys, fixedIVs: ivs)
      var out: [[UInt8]] = units.map { unit in
        switch unit {
        case .message(let text): return sealer.seal(Array(text.utf8), isFinal: false)
        case .receipt(let number):
          return sealer.seal(SessionReceipt.plaintext(acknowledging: number), type: .receipt, isFinal: false)
        case .raw(let plaintext, let isFinal): return sealer.seal(plaintext, type: .receipt, isFinal: isFinal)
        }
      }
      if final && !sealer.isFinished { out.append(sealer.seal([], isFinal: true)) }
      return out
    }
    let hello = "hello bob\n"
    let how = "how are you?\n"
    // 0 m0, 1 r0, 2 r1, 3 m1, 4 r2, 5 final.
    let good = try frames([.message(hello), .receipt(0), .receipt(1), .message(how), .receipt(2)])
    try vector(
      "good-messages-and-receipts", "success", released: hello + how, receipts: [0, 1, 2], good.flatMap { $0 })
    try vector(
      "good-receipts-only", "success", released: "", receipts: [0, 1],
      try frames([.receipt(0), .receipt(1)]).flatMap { $0 })

    // What a relay without the keys can do to a receipt frame.
    try vector(
      "receipt-frame-dropped", "error out-of-order", released: hello, receipts: [0],
      [good[0], good[1], good[3], good[4], good[5]].flatMap { $0 })
    try vector(
      "receipt-frame-duplicated", "error out-of-order", released: hello, receipts: [0],
      [good[0], good[1], good[1], good[2]].flatMap { $0 })
    try vector(
      "receipt-frames-swapped", "error out-of-order", released: hello, receipts: [],
      [good[0], good[2], good[1], good[3]].flatMap { $0 })
    var flipped = good[2]
    flipped[40] ^= 0x01
    try vector(
      "receipt-flipped", "error corrupted", released: hello, receipts: [0],
      [good[0], good[1], flipped, good[3]].flatMap { $0 })
    ForgedFrame.fixCRC(&flipped)
    try vector(
      "receipt-flipped-crc-fixed", "error authentication", released: hello, receipts: [0],
      [good[0], good[1], flipped, good[3]].flatMap { $0 })
    var retyped = good[3]
    retyped[1] = FrameType.receipt.rawValue
    ForgedFrame.fixCRC(&retyped)
    try vector(
      "message-retyped-as-receipt-crc-fixed", "error authentication", released: hello, receipts: [0, 1],
      [good[0], good[1], good[2], retyped].flatMap { $0 })
    // Bob's own receipt for alice's message 0, sealed with his send keys, given back to him as
    // the frame he expects next: the wrong direction's keys.
    let reflected = try frames([.message("ok\n"), .receipt(0)], keys: outbound, final: false)[1]
    try vector(
      "receipt-reflected", "error authentication", released: hello, receipts: [],
      [good[0], reflected, good[2]].flatMap { $0 })

    // What only a key holder can make: receipts that break the rules of PROTOCOL.md §6.5.
    try vector(
      "receipt-out-of-order-under-valid-tag", "error malformed", released: hello, receipts: [],
      try frames([.message(hello), .receipt(1), .message(how)]).flatMap { $0 })
    try vector(
      "receipt-skips-a-message-under-valid-tag", "error malformed", released: hello, receipts: [0],
      try frames([.message(hello), .receipt(0), .receipt(2), .message(how)]).flatMap { $0 })
    try vector(
      "receipt-repeated-under-valid-tag", "error malformed", released: hello, receipts: [0],
      try frames([.message(hello), .receipt(0), .receipt(0), .message(how)]).flatMap { $0 })
    for size in [0, 7, 9] {
      try vector(
        "receipt-\(size)-bytes-under-valid-tag", "error malformed", released: hello, receipts: [],
        try frames([.message(hello), .raw([UInt8](repeating: 0, count: size), final: false), .message(how)])
          .flatMap { $0 })
    }
    try vector(
      "receipt-final-under-valid-tag", "error malformed", released: hello, receipts: [],
      try frames([.message(hello), .raw(SessionReceipt.plaintext(acknowledging: 0), final: true)]).flatMap { $0 })
  }
}

/// Frames as only a holder of the frame keys can make them: any header bytes and any padded
/// plaintext (whole blocks; the padding is not checked), encrypted, then given a valid tag and CRC.
/// They pass §2.3 steps 1-5 and test the checks after the tag.
enum ForgedFrame {
  static func make(
    keys: FrameKeys, version: UInt8 = 1, type: UInt8 = 1, flags: UInt8, reserved: UInt8 = 0, sequence: UInt64,
    paddedPlaintext: [UInt8], iv: [UInt8]
  ) throws -> [UInt8] {
    precondition(!paddedPlaintext.isEmpty && paddedPlaintext.count % 16 == 0 && iv.count == 16)
    // CBC: the first n ciphertext blocks depend only on the first n plaintext blocks, so dropping
    // the block of padding that encrypt() appends leaves the encryption of paddedPlaintext itself.
    let cipher = try AES256CBC(key: keys.encryption, direction: .encrypt)
    let ciphertext = Array(cipher.encrypt(iv: iv, plaintext: paddedPlaintext).prefix(paddedPlaintext.count))
    var frame = [version, type, flags, reserved] + (0..<8).map { UInt8(truncatingIfNeeded: sequence >> (56 - 8 * $0)) }
    frame += (0..<4).map { UInt8(truncatingIfNeeded: ciphertext.count >> (24 - 8 * $0)) } + iv + ciphertext
    frame += [UInt8](repeating: 0, count: RecordLayer.tagSize + RecordLayer.crcSize)
    let authenticator = try FrameAuthenticator(key: keys.authentication)
    frame.withUnsafeMutableBytes {
      _ = authenticator.authenticate(frame: $0.baseAddress!, ciphertextCount: ciphertext.count)
    }
    return frame
  }

  static func pkcs7(_ plaintext: [UInt8]) -> [UInt8] {
    let n = 16 - plaintext.count % 16
    return plaintext + [UInt8](repeating: UInt8(n), count: n)
  }

  static func iv(_ seed: UInt64) -> [UInt8] {
    (0..<16).map { UInt8(truncatingIfNeeded: 0x90 &+ Int(seed) &* 16 &+ $0) }
  }

  /// The size of the frame at `offset`, from its length field.
  static func size(_ bytes: [UInt8], frameAt offset: Int) -> Int {
    RecordLayer.frameOverhead + bytes[offset + 12..<offset + 16].reduce(0) { $0 << 8 | Int($1) }
  }

  /// Recomputes only the CRC (what anyone can do, with no key).
  static func fixCRC(_ bytes: inout [UInt8], frameAt offset: Int = 0) {
    let end = offset + size(bytes, frameAt: offset)
    let crc = CRC32.checksum(Array(bytes[offset..<end - 4]))
    for i in 0..<4 { bytes[end - 4 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * i)) }
  }

  static func setLength(_ bytes: inout [UInt8], frameAt offset: Int = 0, _ length: Int) {
    for i in 0..<4 { bytes[offset + 12 + i] = UInt8(truncatingIfNeeded: length >> (24 - 8 * i)) }
  }
}
