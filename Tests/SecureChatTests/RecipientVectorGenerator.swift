import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// The people of docs/vectors/recipient-file (FORMATS.md §12.2): fixed identity secrets, so that
/// the vectors, the fuzz fixtures (Sources/sc-fuzz/Fixtures.swift) and the tests agree.
enum RecipientVectorPeople {
  static func identity(_ first: UInt8) -> RecipientFile.Identity {
    try! RecipientFile.Identity(secret: SecretBytes(copying: (0..<32).map { first &+ UInt8($0) }))
  }
  static let alice = identity(0x20)
  static let bob = identity(0x40)
  static let carol = identity(0x60)
  static let dave = identity(0x80)
  static let mallory = identity(0xa0)
}

/// Writes docs/vectors/recipient-file when SC_WRITE_RECIPIENT_VECTORS=1 (and nothing else: the
/// other groups' generator draws fresh IVs). Every input is fixed, so the output is the same each time.
final class RecipientVectorGenerator: XCTestCase {
  typealias People = RecipientVectorPeople

  /// A file made with fixed randomness, and what made it.
  struct Made {
    var bytes: [UInt8]
    let fileKey: SecretBytes
    let ephemeralSecret: SecretBytes
    let recipients: [PublicKey]
    let sender: RecipientFile.Identity?
    let plaintext: [UInt8]

    var mode: RecipientFile.SenderMode { sender == nil ? .anonymous : .authenticated }
    var headerSize: Int { RecipientFile.headerSize(recipients: recipients.count, mode: mode) }
    var stanzaSize: Int { RecipientFile.stanzaSize(mode) }
    var trailerSize: Int { sender == nil ? 0 : recipients.count * 32 }
    func stanzaStart(_ index: Int) -> Int { 41 + index * stanzaSize }
  }

  static let plaintext = Array("a file for the recipients\n".utf8)

  static func make(
    _ recipients: [RecipientFile.Identity], sender: RecipientFile.Identity?, plaintext: [UInt8] = plaintext,
    seed: UInt8 = 1
  ) throws -> Made {
    let fileKey = SecretBytes(copying: (0..<32).map { seed &* 0x11 &+ UInt8($0) })
    let ephemeral = SecretBytes(copying: (0..<32).map { seed &* 0x13 &+ 0x70 &+ UInt8($0) })
    let keys = recipients.map(\.publicKey)
    let randomness = RecipientFile.Randomness(
      fileKey: fileKey, ephemeralSecret: ephemeral,
      stanzaIVs: (0..<keys.count).map { i in (0..<16).map { UInt8(0xa0 + i) &+ UInt8($0) } },
      order: Array(0..<keys.count))
    let frames = (plaintext.count + 65535) / 65536
    let bytes = try RecipientFile.seal(
      plaintext, recipients: keys, sender: sender, randomness: randomness,
      frameIVs: (0..<max(frames, 1)).map { i in (0..<16).map { UInt8(0x10 * i) &+ UInt8($0) } })
    return Made(
      bytes: bytes, fileKey: fileKey, ephemeralSecret: ephemeral, recipients: keys, sender: sender,
      plaintext: plaintext)
  }

  /// `made` with the stanza at `index` replaced by a frame sealed (under that recipient's stanza
  /// keys) from `plaintext`, and the header tag recomputed: a change only the sealer can make.
  static func withStanza(
    _ made: Made, index: Int, plaintext: SecretBytes, isFinal: Bool = true, sequence: UInt64 = 0
  ) throws -> [UInt8] {
    var bytes = made.bytes
    let ephemeral = Array(bytes[8..<40])
    let recipient = made.recipients[index].bytes
    let shared = try X25519PrivateKey(rawRepresentation: made.ephemeralSecret).sharedSecret(with: recipient)!
    let keys = try RecipientFile.stanzaKeys(shared: shared, ephemeral: ephemeral, recipient: recipient)
    let encryptor = try FrameEncryptor(key: keys.encryption, fixedIVs: [[UInt8](repeating: 0x5a, count: 16)])
    var stanza = [UInt8](repeating: 0, count: made.stanzaSize)
    try XCTSkipUnless(RecordLayer.frameSize(plaintextCount: plaintext.count) == made.stanzaSize)
    stanza.withUnsafeMutableBytes { out in
      plaintext.withUnsafeBytes {
        let count = encryptor.encrypt(
          plaintext: $0, type: .data, isFinal: isFinal, sequence: sequence, into: out.baseAddress!)
        _ = try! FrameAuthenticator(key: keys.authentication).authenticate(
          frame: out.baseAddress!, ciphertextCount: count)
      }
    }
    bytes.replaceSubrange(made.stanzaStart(index)..<made.stanzaStart(index) + made.stanzaSize, with: stanza)
    return try retagHeader(made, bytes)
  }

  /// Recomputes the header tag of `bytes` under the keys of `made`.
  static func retagHeader(_ made: Made, _ bytes: [UInt8]) throws -> [UInt8] {
    var bytes = bytes
    let keys = try RecipientFile.deriveFileKeys(fileKey: made.fileKey, ephemeral: Array(bytes[8..<40]))
    let tagStart = made.headerSize - 32
    bytes.replaceSubrange(
      tagStart..<made.headerSize, with: try HMACSHA256(key: keys.header).authenticate(Array(bytes[0..<tagStart])))
    return bytes
  }

  /// The CRC of the frame at `start` recomputed, as anyone can.
  static func fixCRC(_ bytes: inout [UInt8], frameAt start: Int) {
    let length =
      68 + Int(bytes[start + 12]) << 24 + Int(bytes[start + 13]) << 16 + Int(bytes[start + 14]) << 8
      + Int(bytes[start + 15])
    let crc = bytes[start..<start + length - 4].withUnsafeBytes { CRC32.checksum($0) }
    for i in 0..<4 { bytes[start + length - 4 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * i)) }
  }

  /// Bob's attack on a file from Alice to Bob and Carol: other content under the same file key,
  /// with Alice's header and trailer kept (FORMATS.md §12.2, security notes).
  static func contentReplacedByRecipient(_ made: Made, content: [UInt8]) throws -> [UInt8] {
    let keys = try RecipientFile.deriveFileKeys(fileKey: made.fileKey, ephemeral: Array(made.bytes[8..<40]))
    let frame = try FrameSealer(keys: keys.frames, fixedIVs: [[UInt8](repeating: 0x6b, count: 16)]).seal(
      content, isFinal: true)
    return Array(made.bytes[0..<made.headerSize]) + frame + Array(made.bytes.suffix(made.trailerSize))
  }

  func testWriteRecipientVectors() throws {
    try XCTSkipUnless(
      ProcessInfo.processInfo.environment["SC_WRITE_RECIPIENT_VECTORS"] == "1", "set SC_WRITE_RECIPIENT_VECTORS=1")
    let directory = TestVector.directory + "/recipient-file"
    try? FileManager.default.removeItem(atPath: directory)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var count = 0
    func write(
      _ name: String, _ made: Made, _ data: [UInt8], expect: String?, opener: RecipientFile.Identity = People.bob,
      from: String? = nil
    ) throws {
      var fields: [(String, String)] = [
        ("kind", "recipient-file"), ("expect", expect.map { "error \($0)" } ?? "success"),
        ("identity", opener.secret.copyForTesting().hexString),
        ("recipients", made.recipients.map(\.text).joined(separator: " ")),
        ("sender", made.sender?.publicKey.text ?? "anonymous"),
        ("file-key", made.fileKey.copyForTesting().hexString),
        ("ephemeral-secret", made.ephemeralSecret.copyForTesting().hexString),
      ]
      if let from { fields.append(("from", from)) }
      if expect == nil {
        fields += [
          ("plaintext-size", "\(made.plaintext.count)"), ("plaintext-sha256", SHA256.hash(made.plaintext).hexString),
        ]
      }
      try TestVector.render(fields: fields, data: data).write(
        toFile: "\(directory)/\(name).vector", atomically: true, encoding: .utf8)
      count += 1
    }
    let alice = People.alice.publicKey.text
    let one = try Self.make([People.bob], sender: nil)
    let three = try Self.make([People.carol, People.bob, People.dave], sender: nil, seed: 2)
    let signed = try Self.make([People.bob], sender: People.alice, seed: 3)
    let signedThree = try Self.make([People.carol, People.bob, People.dave], sender: People.alice, seed: 4)
    try write("good-one-recipient", one, one.bytes, expect: nil)
    try write("good-three-recipients", three, three.bytes, expect: nil)
    try write("good-authenticated-sender", signed, signed.bytes, expect: nil, from: alice)
    try write("good-authenticated-three-recipients", signedThree, signedThree.bytes, expect: nil, from: alice)
    let empty = try Self.make([People.bob], sender: People.alice, plaintext: [], seed: 5)
    try write("good-empty-authenticated", empty, empty.bytes, expect: nil, from: alice)
    let large = try Self.make(
      [People.bob], sender: People.alice, plaintext: (0..<65537).map { UInt8(truncatingIfNeeded: $0 * 7) }, seed: 6)
    try write("good-65537-bytes-authenticated", large, large.bytes, expect: nil, from: alice)
    var armored: [UInt8] = []
    var encoder = ArmorEncoder()
    armored = encoder.header()
    signed.bytes.withUnsafeBytes { encoder.encode($0, into: &armored) }
    encoder.finish(into: &armored)
    try write("good-armored-authenticated", signed, armored, expect: nil, from: alice)
    try write("good-authenticated-sender-without-from", signed, signed.bytes, expect: nil)

    // Who opens.
    try write("not-a-recipient", three, three.bytes, expect: "authentication", opener: People.alice)
    try write("from-other-sender", signed, signed.bytes, expect: "authentication", from: People.mallory.publicKey.text)
    try write("anonymous-with-from", one, one.bytes, expect: "authentication", from: alice)
    try write("from-not-a-public-key", signed, signed.bytes, expect: "bad-public-key", from: "scpub1notakey")
    let salt = [UInt8](repeating: 7, count: 32)
    let pskKeys = try SealedFile.deriveKeys(fileKey: one.fileKey, salt: salt)
    let psk =
      try SealedFile.header(salt: salt, keys: pskKeys)
      + FrameSealer(keys: pskKeys.frames, fixedIVs: [[UInt8](repeating: 0x7c, count: 16)]).seal(
        Self.plaintext, isFinal: true)
    try write("key-file-sealed-opened-with-identity", one, psk, expect: "wrong-key-type")

    func changed(_ made: Made, _ change: (inout [UInt8]) -> Void) -> [UInt8] {
      var bytes = made.bytes
      change(&bytes)
      return bytes
    }
    // The header (§12.2 order of checks).
    try write("flags-unknown", one, changed(one) { $0[7] = 2 }, expect: "unsupported")
    try write("flags-anonymous-to-authenticated", one, changed(one) { $0[7] = 1 }, expect: "authentication")
    try write("flags-authenticated-to-anonymous", signed, changed(signed) { $0[7] = 0 }, expect: "authentication")
    try write("count-zero", one, changed(one) { $0[40] = 0 }, expect: "malformed")
    try write("count-65", one, changed(one) { $0[40] = 65 }, expect: "malformed")
    try write("count-decreased", three, changed(three) { $0[40] = 2 }, expect: "authentication")
    try write("count-increased", one, changed(one) { $0[40] = 2 }, expect: "truncated")
    try write("ephemeral-flipped", one, changed(one) { $0[9] ^= 1 }, expect: "authentication")
    try write(
      "ephemeral-low-order", one, changed(one) { $0.replaceSubrange(8..<40, with: [UInt8](repeating: 0, count: 32)) },
      expect: "authentication")
    try write("own-stanza-flipped", one, changed(one) { $0[one.stanzaStart(0) + 40] ^= 1 }, expect: "authentication")
    try write(
      "other-stanza-flipped", three, changed(three) { $0[three.stanzaStart(0) + 40] ^= 1 }, expect: "authentication")
    try write(
      "stanzas-swapped", three,
      changed(three) { bytes in
        let first = Array(bytes[three.stanzaStart(0)..<three.stanzaStart(1)])
        bytes.replaceSubrange(
          three.stanzaStart(0)..<three.stanzaStart(1), with: bytes[three.stanzaStart(1)..<three.stanzaStart(2)])
        bytes.replaceSubrange(three.stanzaStart(1)..<three.stanzaStart(2), with: first)
      }, expect: "authentication")
    try write("header-tag-flipped", one, changed(one) { $0[one.headerSize - 1] ^= 1 }, expect: "authentication")
    try write("magic-changed", one, changed(one) { $0[0] = 0x73 }, expect: "not-sealed")
    try write("version-3", one, changed(one) { $0[6] = 3 }, expect: "unsupported")
    // Stanzas changed by the sealer (header tag recomputed).
    try write(
      "stanza-not-final-under-valid-tag", one,
      try Self.withStanza(one, index: 0, plaintext: one.fileKey, isFinal: false),
      expect: "malformed")
    try write(
      "stanza-sequence-1-under-valid-tag", one, try Self.withStanza(one, index: 0, plaintext: one.fileKey, sequence: 1),
      expect: "malformed")
    try write(
      "stanza-plaintext-40-bytes-under-valid-tag", one,
      try Self.withStanza(one, index: 0, plaintext: one.fileKey.concatenating(SecretBytes(count: 8))),
      expect: "malformed")
    try write(
      "sender-key-low-order-under-valid-tag", signed,
      try Self.withStanza(signed, index: 0, plaintext: signed.fileKey.concatenating(SecretBytes(count: 32))),
      expect: "malformed")
    // Frames and what follows them.
    try write(
      "frame-ciphertext-flipped-crc-fixed", one,
      changed(one) {
        $0[one.headerSize + 40] ^= 1
        Self.fixCRC(&$0, frameAt: one.headerSize)
      }, expect: "authentication")
    try write("frame-ciphertext-flipped", one, changed(one) { $0[one.headerSize + 40] ^= 1 }, expect: "corrupted")
    try write("truncated-in-header", one, Array(one.bytes.prefix(100)), expect: "truncated")
    try write("truncated-before-count", one, Array(one.bytes.prefix(40)), expect: "truncated")
    try write("header-only", one, Array(one.bytes.prefix(one.headerSize)), expect: "truncated")
    try write("truncated-in-frame", one, Array(one.bytes.dropLast(10)), expect: "truncated")
    try write("trailer-missing", signed, Array(signed.bytes.dropLast(32)), expect: "truncated")
    try write("truncated-in-trailer", signed, Array(signed.bytes.dropLast(1)), expect: "truncated")
    try write("trailing-byte", one, one.bytes + [0], expect: "trailing-data")
    try write("trailing-byte-after-trailer", signed, signed.bytes + [0], expect: "trailing-data")
    // The sender's proof.
    try write("proof-flipped", signed, changed(signed) { $0[$0.count - 1] ^= 1 }, expect: "authentication")
    try write(
      "proofs-swapped", signedThree,
      changed(signedThree) { bytes in
        let start = bytes.count - 96
        let first = Array(bytes[start..<start + 32])
        bytes.replaceSubrange(start..<start + 32, with: bytes[start + 32..<start + 64])
        bytes.replaceSubrange(start + 32..<start + 64, with: first)
      }, expect: "authentication")
    // Mallory seals and names Alice in the stanza: the proof is Mallory's, so it fails.
    let forged = try Self.make(
      [People.bob], sender: RecipientFile.Identity(secret: People.mallory.secret, publicKey: People.alice.publicKey),
      seed: 7)
    try write("sender-claims-other-key", forged, forged.bytes, expect: "authentication")
    // Bob, a recipient, replaces the content of Alice's file to Bob and Carol; Carol opens it.
    let toBobAndCarol = try Self.make([People.bob, People.carol], sender: People.alice, seed: 8)
    try write(
      "content-replaced-by-other-recipient", toBobAndCarol,
      try Self.contentReplacedByRecipient(toBobAndCarol, content: Array("pay mallory\n".utf8)),
      expect: "authentication", opener: People.carol, from: alice)
    print("wrote \(count) vectors to \(directory)")
  }
}
