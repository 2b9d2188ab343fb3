import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// The vectors of a handshake that continues a verified session (PROTOCOL.md §4.7, §8.5,
/// `kind: handshake-continuation`, in docs/vectors/handshake). VectorGenerator.testWriteVectors
/// writes them with the others; SC_WRITE_CONTINUATION_VECTORS=1 writes only these.
final class ContinuationVectorGenerator: XCTestCase {
  func testWriteContinuationVectors() throws {
    try XCTSkipUnless(
      ProcessInfo.processInfo.environment["SC_WRITE_CONTINUATION_VECTORS"] == "1",
      "set SC_WRITE_CONTINUATION_VECTORS=1")
    let directory = TestVector.directory + "/handshake"
    for old in try FileManager.default.contentsOfDirectory(atPath: directory)
    where old.hasPrefix(ContinuationVectors.prefix) || old.hasPrefix("good-" + ContinuationVectors.prefix) {
      try FileManager.default.removeItem(atPath: directory + "/" + old)
    }
    try ContinuationVectors.write(directory) { directory, name, fields, data in
      try TestVector.render(fields: fields, data: data).write(
        toFile: "\(directory)/\(name).vector", atomically: true, encoding: .utf8)
    }
  }
}

enum ContinuationVectors {
  static let prefix = "continuation-"
  static let psk = HandshakeVectors.psk
  /// The continuation secret of the session being continued, and one of another session.
  static let secret = (0..<32).map { UInt8(truncatingIfNeeded: 0x5c &+ $0 &* 9) }
  static let otherSecret = (0..<32).map { UInt8(truncatingIfNeeded: 0x17 &+ $0 &* 13) }

  /// §4.7, recomputed from the primitives: HKDF(IKM = PSK ‖ CS, salt = empty, info = label, 32).
  static func continuedKey(_ secret: [UInt8]) throws -> [UInt8] {
    try HKDFSHA256.derive(
      inputKeyMaterial: SecretBytes(copying: psk + secret), salt: [],
      info: Array("SecureChat v1 continued key".utf8), outputCount: 32
    ).copyForTesting()
  }

  static func randomness(_ role: Handshake.Role) -> Handshake.Randomness {
    let r = role == .initiator ? HandshakeVectors.initiatorRandomness : HandshakeVectors.responderRandomness
    return .init(ephemeralSecret: SecretBytes(copying: r.secret), challenge: r.challenge, nameFrameIV: r.iv)
  }

  /// The keys each side holds, as sc-handshake builds them (HandshakeTool): an initiator that
  /// continues holds the continued key alone; a responder that can be continued holds the
  /// continued key first and the pre-shared key second, both for the same peer name.
  static func keys(_ role: Handshake.Role, secret: [UInt8]?) throws -> [Handshake.PeerKey] {
    let peer = Array((role == .initiator ? "bob" : "alice").utf8)
    guard let secret else { return [Handshake.PeerKey(psk: SecretBytes(copying: psk), expectedName: peer)] }
    let continued = Handshake.PeerKey(psk: SecretBytes(copying: try continuedKey(secret)), expectedName: peer)
    return role == .initiator
      ? [continued] : [continued, Handshake.PeerKey(psk: SecretBytes(copying: psk), expectedName: peer)]
  }

  static func write(_ directory: String, write: PeersVectors.Writer) throws {
    func hex(_ secret: [UInt8]?) -> String { secret?.hexString ?? "none" }
    func fixedFields(initiator: [UInt8]?, responder: [UInt8]?) throws -> [(String, String)] {
      var fields: [(String, String)] = [
        ("psk", psk.hexString), ("initiator-name", "alice"), ("responder-name", "bob"),
        ("initiator-continuation-secret", hex(initiator)), ("responder-continuation-secret", hex(responder)),
      ]
      if let initiator { fields.append(("initiator-continued-key", try continuedKey(initiator).hexString)) }
      if let responder { fields.append(("responder-continued-key", try continuedKey(responder).hexString)) }
      for (role, prefix) in [(Handshake.Role.initiator, "initiator-"), (.responder, "responder-")] {
        let r = role == .initiator ? HandshakeVectors.initiatorRandomness : HandshakeVectors.responderRandomness
        fields += [
          (prefix + "ephemeral-secret", r.secret.hexString), (prefix + "challenge", r.challenge.hexString),
          (prefix + "name-iv", r.iv.hexString),
        ]
      }
      return fields
    }

    /// Two honest sides: the initiator continues `initiator` (or starts a new session), the
    /// responder holds `responder` (or nothing to continue).
    func exchange(_ name: String, _ expect: String, initiator: [UInt8]?, responder: [UInt8]?) throws {
      let alice = try Handshake(
        role: .initiator, keys: try keys(.initiator, secret: initiator), localName: Array("alice".utf8),
        randomness: randomness(.initiator))
      let bob = try Handshake(
        role: .responder, keys: try keys(.responder, secret: responder), localName: Array("bob".utf8),
        randomness: randomness(.responder))
      var fields = [("kind", "handshake-continuation"), ("expect", expect)]
      fields += try fixedFields(initiator: initiator, responder: responder)
      let i1 = alice.start()!
      _ = bob.start()
      let r1 = try bob.receive(i1)!
      let i2 = try alice.receive(r1)!
      fields += [("message-i1", i1.hexString), ("message-r1", r1.hexString), ("message-i2", i2.hexString)]
      do {
        let r2 = try bob.receive(i2)!
        XCTAssertNil(try alice.receive(r2))
        let (a, b) = (alice.result!, bob.result!)
        XCTAssertEqual(expect, "success", name)
        XCTAssertEqual(a.transcriptHash, b.transcriptHash)
        XCTAssertEqual(a.continuationSecret.copyForTesting(), b.continuationSecret.copyForTesting())
        fields += [
          ("message-r2", r2.hexString), ("continued", bob.selectedKeyIndex == 0 && responder != nil ? "yes" : "no"),
          ("final-transcript-hash", a.transcriptHash.hexString), ("session-id", a.sessionID.hexString),
          ("initiator-to-responder-encryption", a.send.encryption.copyForTesting().hexString),
          ("verification-code", a.verificationCode),
          ("continuation-secret", a.continuationSecret.copyForTesting().hexString),
        ]
        try write(directory, name, fields, i1 + r1 + i2 + r2)
      } catch {
        XCTAssertEqual("error " + HandshakeVectors.errorClass(error), expect, name)
        fields.append(("failing-side", "responder"))
        try write(directory, name, fields, i1 + r1 + i2)
      }
    }
    try exchange("good-\(prefix)continued", "success", initiator: secret, responder: secret)
    try exchange("good-\(prefix)new-session", "success", initiator: nil, responder: secret)
    try exchange(
      "\(prefix)responder-has-nothing-to-continue", "error authentication", initiator: secret, responder: nil)
    try exchange("\(prefix)other-secret", "error authentication", initiator: otherSecret, responder: secret)

    // A holder of the pre-shared key without the secret, in the responder's place: he cannot
    // verify I2, but answers it with an R2 made under the pre-shared key alone. The initiator
    // that continues must refuse it (§3.5 A1).
    let alice = try Handshake(
      role: .initiator, keys: try keys(.initiator, secret: secret), localName: Array("alice".utf8),
      randomness: randomness(.initiator))
    let mallory = try HandshakeVectors.machine(.responder)
    let i1 = alice.start()!
    _ = mallory.start()
    let r1 = try mallory.receive(i1)!
    let i2 = try alice.receive(r1)!
    let r2 = try r2UnderPSKAlone(i1: i1, r1: r1, i2: i2)
    var fields = [("kind", "handshake-continuation"), ("expect", "error authentication")]
    fields += try fixedFields(initiator: secret, responder: nil)
    fields += [
      ("message-i1", i1.hexString), ("message-r1", r1.hexString), ("message-i2", i2.hexString),
      ("message-r2", r2.hexString), ("failing-side", "initiator"),
    ]
    XCTAssertThrowsError(try alice.receive(r2))
    try write(directory, "\(prefix)r2-under-psk-alone", fields, i1 + r1 + i2 + r2)
  }

  /// R2 as §3.4 makes it with PSK in place of the continued key, over the transcript of the
  /// initiator's messages: what a responder who holds the pre-shared key can send.
  static func r2UnderPSKAlone(i1: [UInt8], r1: [UInt8], i2: [UInt8]) throws -> [UInt8] {
    let responder = try X25519PrivateKey(
      rawRepresentation: SecretBytes(copying: HandshakeVectors.responderRandomness.secret))
    let dh = responder.sharedSecret(with: Array(i2[3..<35]))!
    let th2 = SHA256.hash(SHA256.hash(Array("SecureChat v1 handshake".utf8) + i1) + r1)
    let prk = try KeySchedule.extract(sharedSecret: dh, psk: SecretBytes(copying: psk), transcriptHash: th2)
    let th3r = SHA256.hash(SHA256.hash(th2 + i2.dropLast(32)) + i2.suffix(32))
    let sealer = try FrameSealer(
      keys: try KeySchedule.handshakeFrameKeys(prk: prk, role: .responder),
      fixedIVs: [HandshakeVectors.responderRandomness.iv])
    let frame = sealer.seal(Array("bob".utf8), isFinal: true)
    let prefix = HandshakeMessage.header(.responderAuth, bodyCount: frame.count + 32) + frame
    let response = try Handshake.response(
      psk: SecretBytes(copying: psk), role: .responder, transcriptHash: SHA256.hash(th3r + prefix))
    return prefix + response
  }
}
