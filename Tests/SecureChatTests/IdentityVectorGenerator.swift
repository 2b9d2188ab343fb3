import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// The version 2 (identity) handshake vectors (PROTOCOL.md §11.8), `v2-*` in docs/vectors/handshake.
/// SC_WRITE_IDENTITY_VECTORS=1 writes them. The values of the good handshake are recomputed here
/// from the primitives, step by step as §11.3 and §11.4 say, and compared with the state machine's
/// messages before anything is written.
final class IdentityVectorGenerator: XCTestCase {
  func testWriteIdentityVectors() throws {
    try XCTSkipUnless(
      ProcessInfo.processInfo.environment["SC_WRITE_IDENTITY_VECTORS"] == "1", "set SC_WRITE_IDENTITY_VECTORS=1")
    let directory = TestVector.directory + "/handshake"
    for old in try FileManager.default.contentsOfDirectory(atPath: directory)
    where old.hasPrefix("v2-") || old.hasPrefix("good-v2-") {
      try FileManager.default.removeItem(atPath: directory + "/" + old)
    }
    try IdentityVectors.write(directory) { directory, name, fields, data in
      try TestVector.render(fields: fields, data: data).write(
        toFile: "\(directory)/\(name).vector", atomically: true, encoding: .utf8)
    }
  }
}

enum IdentityVectors {
  typealias V = HandshakeVectors
  static let aliceSecret = (0..<32).map { UInt8(truncatingIfNeeded: 0x30 &+ $0 &* 5) }
  static let bobSecret = (0..<32).map { UInt8(truncatingIfNeeded: 0x71 &+ $0 &* 11) }
  static let mallorySecret = (0..<32).map { UInt8(truncatingIfNeeded: 0x99 &+ $0 &* 3) }

  static func publicKey(_ secret: [UInt8]) throws -> PublicKey {
    try PublicKey(identitySecret: SecretBytes(copying: secret))
  }

  static func randomness(_ role: Handshake.Role) -> Handshake.Randomness {
    let r = role == .initiator ? V.initiatorRandomness : V.responderRandomness
    return .init(ephemeralSecret: SecretBytes(copying: r.secret), challenge: r.challenge, nameFrameIV: r.iv)
  }

  /// A side with the fixed randomness of its role, accepting exactly `peer`.
  static func machine(_ role: Handshake.Role, identity: [UInt8], name: String, peer: PublicKey) throws -> Handshake {
    try Handshake(
      role: role, identity: SecretBytes(copying: identity), localName: Array(name.utf8),
      acceptPeerKey: { key, _ in
        guard key == peer else { throw HandshakeError.authenticationFailed("not the expected key") }
      }, randomness: randomness(role))
  }

  /// The messages of a run between `initiator` and `responder`, up to the first failure.
  static func run(_ initiator: Handshake, _ responder: Handshake) -> [[UInt8]] {
    var messages: [[UInt8]] = []
    var next = initiator.start()
    _ = responder.start()
    var receiver = responder
    var other = initiator
    while let message = next {
      messages.append(message)
      guard let reply = try? receiver.receive(message) else { break }
      next = reply
      swap(&receiver, &other)
    }
    return messages
  }

  static func write(_ directory: String, write: PeersVectors.Writer) throws {
    let alice = try publicKey(aliceSecret)
    let bob = try publicKey(bobSecret)
    let mallory = try publicKey(mallorySecret)
    let good = run(
      try machine(.initiator, identity: aliceSecret, name: "alice", peer: bob),
      try machine(.responder, identity: bobSecret, name: "bob", peer: alice))
    precondition(good.count == 6, "the good handshake did not complete")
    let (i1, r1, i2, r2, i3, r3) = (good[0], good[1], good[2], good[3], good[4], good[5])

    // §11.3, from the primitives.
    func extract(_ ikm: [UInt8], salt: [UInt8]) throws -> [UInt8] {
      try HKDFSHA256.derive(
        inputKeyMaterial: SecretBytes(copying: ikm), salt: salt, info: [], outputCount: 32, mode: .extractOnly
      ).copyForTesting()
    }
    func expand(_ prk: [UInt8], _ label: String, _ count: Int = 32) throws -> [UInt8] {
      try HKDFSHA256.derive(
        inputKeyMaterial: SecretBytes(copying: prk), salt: [], info: Array(label.utf8), outputCount: count,
        mode: .expandOnly
      ).copyForTesting()
    }
    func hmac(_ key: [UInt8], _ label: String, _ th: [UInt8]) throws -> [UInt8] {
      try HMACSHA256(key: SecretBytes(copying: key)).authenticate(Array(label.utf8), th)
    }
    let ei = try X25519PrivateKey(rawRepresentation: SecretBytes(copying: V.initiatorRandomness.secret))
    let er = try X25519PrivateKey(rawRepresentation: SecretBytes(copying: V.responderRandomness.secret))
    let si = try X25519PrivateKey(rawRepresentation: SecretBytes(copying: aliceSecret))
    let sr = try X25519PrivateKey(rawRepresentation: SecretBytes(copying: bobSecret))
    let ee = ei.sharedSecret(with: er.publicKey)!.copyForTesting()
    let es = ei.sharedSecret(with: sr.publicKey)!.copyForTesting()
    let se = si.sharedSecret(with: er.publicKey)!.copyForTesting()
    precondition(es == sr.sharedSecret(with: ei.publicKey)!.copyForTesting())
    let commitment = SHA256.hash(Array("SecureChat v2 initiator key commitment".utf8) + ei.publicKey)
    precondition(
      i1 == [0x01, 0x00, 0x41, 0x02] + commitment + V.initiatorRandomness.challenge,
      "I1 differs from §11.4")
    precondition(r1 == [0x02, 0x00, 0x41, 0x02] + er.publicKey + V.responderRandomness.challenge)
    precondition(i2 == [0x03, 0x00, 0x20] + ei.publicKey)
    let th1 = SHA256.hash(Array("SecureChat v2 handshake".utf8) + i1)
    let th2 = SHA256.hash(th1 + r1)
    let th3 = SHA256.hash(th2 + i2)
    let prkEE = try extract(ee, salt: th2)
    // R2: the responder's identity frame under PRK(ee; TH2), its response under PRK(ee ‖ es; TH3).
    let responderFrame = try FrameSealer(
      keys: FrameKeys(
        encryption: SecretBytes(copying: try expand(prkEE, "SecureChat v2 handshake responder encryption")),
        authentication: SecretBytes(copying: try expand(prkEE, "SecureChat v2 handshake responder authentication"))),
      fixedIVs: [V.responderRandomness.iv]
    ).seal(sr.publicKey + Array("bob".utf8), isFinal: true)
    let r2Header = HandshakeMessage.header(.responderAuth, bodyCount: responderFrame.count + 32)
    let th3a = SHA256.hash(th3 + r2Header + responderFrame)
    let prkEEES = try extract(ee + es, salt: th3)
    let responderResponseKey = try expand(prkEEES, "SecureChat v2 responder response key")
    let respR = try hmac(responderResponseKey, "SecureChat v2 responder response", th3a)
    precondition(r2 == r2Header + responderFrame + respR, "R2 differs from §11.4")
    let th4 = SHA256.hash(th3a + respR)
    // I3: the initiator's identity frame under PRK(ee ‖ es; TH3), its response under
    // PRK(ee ‖ es ‖ se; TH4).
    let initiatorFrame = try FrameSealer(
      keys: FrameKeys(
        encryption: SecretBytes(copying: try expand(prkEEES, "SecureChat v2 handshake initiator encryption")),
        authentication: SecretBytes(copying: try expand(prkEEES, "SecureChat v2 handshake initiator authentication"))),
      fixedIVs: [V.initiatorRandomness.iv]
    ).seal(si.publicKey + Array("alice".utf8), isFinal: true)
    let i3Header = HandshakeMessage.header(.initiatorIdentity, bodyCount: initiatorFrame.count + 32)
    let th4a = SHA256.hash(th4 + i3Header + initiatorFrame)
    let prkAll = try extract(ee + es + se, salt: th4)
    let initiatorResponseKey = try expand(prkAll, "SecureChat v2 initiator response key")
    let respI = try hmac(initiatorResponseKey, "SecureChat v2 initiator response", th4a)
    precondition(i3 == i3Header + initiatorFrame + respI, "I3 differs from §11.4")
    let th5 = SHA256.hash(th4a + respI)
    let confirmationKey = try expand(prkAll, "SecureChat v2 responder response key")
    // R3 too is absorbed in two pieces: its header (all of it but the response), then the response.
    let th5a = SHA256.hash(th5 + [0x06, 0x00, 0x20])
    let respC = try hmac(confirmationKey, "SecureChat v2 responder response", th5a)
    precondition(r3 == [0x06, 0x00, 0x20] + respC, "R3 differs from §11.4")
    let thFinal = SHA256.hash(th5a + respC)
    let prkSession = try extract(ee + es + se, salt: thFinal)

    var fields: [(String, String)] = [
      ("kind", "handshake"), ("expect", "success"), ("version", "2"),
      ("initiator-name", "alice"), ("responder-name", "bob"),
      ("initiator-identity-secret", aliceSecret.hexString), ("initiator-identity-public", alice.text),
      ("responder-identity-secret", bobSecret.hexString), ("responder-identity-public", bob.text),
      ("initiator-ephemeral-secret", V.initiatorRandomness.secret.hexString),
      ("initiator-challenge", V.initiatorRandomness.challenge.hexString),
      ("initiator-name-iv", V.initiatorRandomness.iv.hexString),
      ("responder-ephemeral-secret", V.responderRandomness.secret.hexString),
      ("responder-challenge", V.responderRandomness.challenge.hexString),
      ("responder-name-iv", V.responderRandomness.iv.hexString),
      ("initiator-ephemeral-public", ei.publicKey.hexString), ("responder-ephemeral-public", er.publicKey.hexString),
      ("initiator-commitment", commitment.hexString),
      ("ee-output", ee.hexString), ("es-output", es.hexString), ("se-output", se.hexString),
      ("message-i1", i1.hexString), ("message-r1", r1.hexString), ("message-i2", i2.hexString),
      ("th1", th1.hexString), ("th2", th2.hexString), ("th3", th3.hexString),
      ("prk-ee", prkEE.hexString), ("prk-ee-es", prkEEES.hexString), ("prk-ee-es-se", prkAll.hexString),
      ("responder-response-key", responderResponseKey.hexString), ("message-r2", r2.hexString),
      ("th4", th4.hexString), ("initiator-response-key", initiatorResponseKey.hexString),
      ("message-i3", i3.hexString), ("th5", th5.hexString), ("confirmation-key", confirmationKey.hexString),
      ("message-r3", r3.hexString), ("final-transcript-hash", thFinal.hexString),
      ("session-prk", prkSession.hexString),
    ]
    for (name, label, count) in [
      ("initiator-to-responder-encryption", "SecureChat v2 session initiator-to-responder encryption", 32),
      ("initiator-to-responder-authentication", "SecureChat v2 session initiator-to-responder authentication", 32),
      ("responder-to-initiator-encryption", "SecureChat v2 session responder-to-initiator encryption", 32),
      ("responder-to-initiator-authentication", "SecureChat v2 session responder-to-initiator authentication", 32),
      ("session-id", "SecureChat v2 session id", 16),
    ] {
      fields.append((name, try expand(prkSession, label, count).hexString))
    }
    let digest = SHA256.hash(Array("SecureChat v2 verification code".utf8) + ei.publicKey + er.publicKey)
    let value = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } % 1_000_000_000_000
    let digits = String(String(value).reversed()).padding(toLength: 12, withPad: "0", startingAt: 0).reversed()
    let code = stride(from: 0, to: 12, by: 3).map { String(Array(digits)[$0..<($0 + 3)]) }.joined(separator: " ")
    fields.append(("verification-code", code))
    try write(directory, "good-v2-handshake", fields, good.flatMap { $0 })

    // Failures: one side, the messages it receives, and its class (PROTOCOL.md §8.2, §11.5).
    func bad(_ name: String, role: Handshake.Role, _ errorClass: String, _ received: [[UInt8]]) throws {
      let r = role == .initiator ? V.initiatorRandomness : V.responderRandomness
      var badFields: [(String, String)] = [
        ("kind", "handshake-failure"), ("expect", "error \(errorClass)"), ("version", "2"),
        ("role", role == .initiator ? "initiator" : "responder"),
        ("local-name", role == .initiator ? "alice" : "bob"),
        ("identity-secret", (role == .initiator ? aliceSecret : bobSecret).hexString),
        ("peer-key", (role == .initiator ? bob : alice).text),
        ("ephemeral-secret", r.secret.hexString), ("challenge", r.challenge.hexString), ("name-iv", r.iv.hexString),
      ]
      for (index, message) in received.enumerated() { badFields.append(("receive-\(index + 1)", message.hexString)) }
      try write(directory, "v2-" + name, badFields, [])
    }
    func flipped(_ message: [UInt8], _ offset: Int) -> [UInt8] {
      var m = message
      m[offset] ^= 0x01
      return m
    }
    /// A frame's CRC-32 (its last 4 bytes) made right again after a change inside it.
    func fixCRC(_ message: [UInt8], frameStart: Int, frameEnd: Int) -> [UInt8] {
      var m = message
      let crc = CRC32.checksum(Array(m[frameStart..<(frameEnd - 4)]))
      for i in 0..<4 { m[frameEnd - 4 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(i))) }
      return m
    }
    let v1 = try V.goodMessages()
    let order8 = [UInt8](hexString: "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")!
    // The responder: receives I1, I2, I3.
    try bad("i1-version-1", role: .responder, "unsupported-version", [v1[0]])
    try bad("i1-type-6", role: .responder, "unexpected-message", [[0x06, 0x00, 0x20] + respC])
    try bad("i2-length-33", role: .responder, "malformed", [i1, [0x03, 0x00, 0x21] + ei.publicKey + [0]])
    try bad("i2-truncated", role: .responder, "truncated", [i1, Array(i2.dropLast())])
    try bad("i2-key-not-committed", role: .responder, "authentication", [i1, [0x03, 0x00, 0x20] + er.publicKey])
    try bad(
      "i2-low-order-key", role: .responder, "invalid-public-key",
      [
        Array(i1[0..<4]) + SHA256.hash(Array("SecureChat v2 initiator key commitment".utf8) + order8)
          + Array(i1[36...]), [0x03, 0x00, 0x20] + order8,
      ])
    try bad("i3-identity-frame-flipped", role: .responder, "authentication", [i1, i2, flipped(i3, 3 + 20)])
    try bad(
      "i3-identity-frame-tag-flipped-crc-fixed", role: .responder, "authentication",
      [i1, i2, fixCRC(flipped(i3, i3.count - 32 - 4 - 10), frameStart: 3, frameEnd: i3.count - 32)])
    try bad("i3-response-flipped", role: .responder, "authentication", [i1, i2, flipped(i3, i3.count - 1)])
    try bad("i3-abort", role: .responder, "rejected", [i1, i2, HandshakeMessage.abortMessage])
    // Mallory proves her own identity, which the responder does not accept for alice (§11.5 P).
    let withMallory = run(
      try machine(.initiator, identity: mallorySecret, name: "alice", peer: bob),
      try machine(.responder, identity: bobSecret, name: "bob", peer: mallory))
    try bad("i3-unknown-key", role: .responder, "authentication", [withMallory[0], withMallory[2], withMallory[4]])
    // The initiator: receives R1, R2, R3.
    try bad("r1-version-1", role: .initiator, "unsupported-version", [v1[1]])
    try bad("r1-type-5", role: .initiator, "unexpected-message", [[0x05] + Array(i3[1...])])
    try bad(
      "r1-low-order-key", role: .initiator, "invalid-public-key", [Array(r1[0..<4]) + order8 + Array(r1[36...])])
    try bad("r2-identity-frame-flipped", role: .initiator, "authentication", [r1, flipped(r2, 3 + 30)])
    try bad("r2-response-flipped", role: .initiator, "authentication", [r1, flipped(r2, r2.count - 1)])
    try bad("r2-length-above-maximum", role: .initiator, "malformed", [r1, [0x04, 0x00, 0xd5] + Array(r2[3...])])
    try bad("r2-type-unknown", role: .initiator, "malformed", [r1, [0x07] + Array(r2[1...])])
    // A responder frame holding a static key of low order, sealed under the right keys.
    let lowOrderFrame = try FrameSealer(
      keys: FrameKeys(
        encryption: SecretBytes(copying: try expand(prkEE, "SecureChat v2 handshake responder encryption")),
        authentication: SecretBytes(copying: try expand(prkEE, "SecureChat v2 handshake responder authentication"))),
      fixedIVs: [V.responderRandomness.iv]
    ).seal(order8 + Array("bob".utf8), isFinal: true)
    try bad(
      "r2-low-order-static-key", role: .initiator, "invalid-public-key",
      [r1, HandshakeMessage.header(.responderAuth, bodyCount: lowOrderFrame.count + 32) + lowOrderFrame + respR])
    let malloryAnswers = run(
      try machine(.initiator, identity: aliceSecret, name: "alice", peer: mallory),
      try machine(.responder, identity: mallorySecret, name: "bob", peer: alice))
    try bad("r2-unknown-key", role: .initiator, "authentication", [malloryAnswers[1], malloryAnswers[3]])
    try bad("r3-response-flipped", role: .initiator, "authentication", [r1, r2, flipped(r3, r3.count - 1)])
    try bad("r3-abort", role: .initiator, "rejected", [r1, r2, HandshakeMessage.abortMessage])
    try bad("r3-truncated", role: .initiator, "truncated", [r1, r2, Array(r3.dropLast())])
  }
}
