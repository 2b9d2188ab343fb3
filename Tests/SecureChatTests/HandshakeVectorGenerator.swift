import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// Handshake and session-stream vectors (docs/PROTOCOL.md §8). The intermediate values are
/// recomputed here from the primitives, step by step as PROTOCOL.md describes them, rather than
/// read out of the state machine: the runner then checks the state machine against them.
enum HandshakeVectors {
  static let psk = (0..<32).map { UInt8(truncatingIfNeeded: 0xa0 &+ $0) }
  static let otherPSK = (0..<32).map { UInt8(truncatingIfNeeded: 0x10 &+ $0 &* 3) }
  static func randomness(_ seed: UInt8) -> (secret: [UInt8], challenge: [UInt8], iv: [UInt8]) {
    (
      (0..<32).map { UInt8(truncatingIfNeeded: Int(seed) &* 31 &+ $0 &* 7) },
      (0..<32).map { UInt8(truncatingIfNeeded: Int(seed) &+ 0x50 &+ $0) },
      (0..<16).map { UInt8(truncatingIfNeeded: Int(seed) &+ 0xe0 &+ $0) }
    )
  }
  static let initiatorRandomness = randomness(1)
  static let responderRandomness = randomness(2)

  static func machine(_ role: Handshake.Role, psk: [UInt8] = psk, name: String? = nil) throws -> Handshake {
    let r = role == .initiator ? initiatorRandomness : responderRandomness
    return try Handshake(
      role: role, psk: SecretBytes(copying: psk),
      localName: Array((name ?? (role == .initiator ? "alice" : "bob")).utf8),
      randomness: .init(ephemeralSecret: SecretBytes(copying: r.secret), challenge: r.challenge, nameFrameIV: r.iv))
  }

  /// The four messages of a good handshake with the fixed inputs.
  static func goodMessages(responderPSK: [UInt8] = psk) throws -> [[UInt8]] {
    let initiator = try machine(.initiator)
    let responder = try machine(.responder, psk: responderPSK)
    let i1 = initiator.start()!
    _ = responder.start()
    let r1 = try responder.receive(i1)!
    let i2 = try initiator.receive(r1)!
    guard let r2 = try? responder.receive(i2) else { return [i1, r1, i2] }
    _ = try initiator.receive(r2)
    return [i1, r1, i2, r2]
  }

  static func errorClass(_ error: Error) -> String {
    switch error as? HandshakeError {
    case .authenticationFailed?: return "authentication"
    case .rejectedByPeer?: return "rejected"
    case .unexpectedMessage?: return "unexpected-message"
    case .malformed?: return "malformed"
    case .truncated?: return "truncated"
    case .notAPeer?: return "not-a-peer"
    case .unsupportedVersion?: return "unsupported-version"
    case .invalidPublicKey?: return "invalid-public-key"
    case nil: return "other: \(error)"
    }
  }
}

extension VectorGenerator {
  func writeHandshakeVectors(_ directory: String) throws {
    typealias V = HandshakeVectors
    let messages = try V.goodMessages()
    let (i1, r1, i2, r2) = (messages[0], messages[1], messages[2], messages[3])
    func hkdf(_ ikm: [UInt8], salt: [UInt8], _ label: String, mode: HKDFSHA256.Mode = .expandOnly) throws -> [UInt8] {
      try HKDFSHA256.derive(
        inputKeyMaterial: SecretBytes(copying: ikm), salt: salt, info: Array(label.utf8),
        outputCount: mode == .extractAndExpand ? 32 : (label == "SecureChat v1 session id" ? 16 : 32), mode: mode
      ).copyForTesting()
    }
    let ei = try X25519PrivateKey(rawRepresentation: SecretBytes(copying: V.initiatorRandomness.secret))
    let er = try X25519PrivateKey(rawRepresentation: SecretBytes(copying: V.responderRandomness.secret))
    let dh = ei.sharedSecret(with: er.publicKey)!.copyForTesting()
    let th1 = SHA256.hash(Array("SecureChat v1 handshake".utf8) + i1)
    let th2 = SHA256.hash(th1 + r1)
    let prkHandshake = try hkdf(dh + V.psk, salt: th2, "", mode: .extractOnly)
    let i2Response = Array(i2.suffix(32))
    let th3 = SHA256.hash(th2 + i2.dropLast(32))
    let responseKeyI = try hkdf(V.psk, salt: [], "SecureChat v1 initiator response key", mode: .extractAndExpand)
    let responseKeyR = try hkdf(V.psk, salt: [], "SecureChat v1 responder response key", mode: .extractAndExpand)
    XCTAssertEqual(
      try HMACSHA256(key: SecretBytes(copying: responseKeyI)).authenticate(
        Array("SecureChat v1 initiator response".utf8), th3), i2Response)
    // Every piece extends the chain on its own: H = SHA-256(H ‖ piece), the response included.
    let th3WithResponse = SHA256.hash(th3 + i2Response)
    let th4 = SHA256.hash(th3WithResponse + r2.dropLast(32))
    XCTAssertEqual(
      try HMACSHA256(key: SecretBytes(copying: responseKeyR)).authenticate(
        Array("SecureChat v1 responder response".utf8), th4), Array(r2.suffix(32)))
    let thFinal = SHA256.hash(th4 + r2.suffix(32))
    let prkSession = try hkdf(dh + V.psk, salt: thFinal, "", mode: .extractOnly)
    var fields: [(String, String)] = [
      ("kind", "handshake"), ("expect", "success"), ("psk", V.psk.hexString),
      ("initiator-name", "alice"), ("responder-name", "bob"),
      ("initiator-ephemeral-secret", V.initiatorRandomness.secret.hexString),
      ("initiator-challenge", V.initiatorRandomness.challenge.hexString),
      ("initiator-name-iv", V.initiatorRandomness.iv.hexString),
      ("responder-ephemeral-secret", V.responderRandomness.secret.hexString),
      ("responder-challenge", V.responderRandomness.challenge.hexString),
      ("responder-name-iv", V.responderRandomness.iv.hexString),
      ("initiator-ephemeral-public", ei.publicKey.hexString), ("responder-ephemeral-public", er.publicKey.hexString),
      (
        "initiator-commitment",
        SHA256.hash(Array("SecureChat v1 initiator key commitment".utf8) + ei.publicKey).hexString
      ),
      ("dh-output", dh.hexString), ("message-i1", i1.hexString), ("message-r1", r1.hexString),
      ("th1", th1.hexString), ("th2", th2.hexString), ("handshake-prk", prkHandshake.hexString),
    ]
    for (name, label) in [
      ("initiator-handshake-encryption", "SecureChat v1 handshake initiator encryption"),
      ("initiator-handshake-authentication", "SecureChat v1 handshake initiator authentication"),
      ("responder-handshake-encryption", "SecureChat v1 handshake responder encryption"),
      ("responder-handshake-authentication", "SecureChat v1 handshake responder authentication"),
    ] {
      fields.append((name, try hkdf(prkHandshake, salt: [], label).hexString))
    }
    fields += [
      ("initiator-response-key", responseKeyI.hexString), ("responder-response-key", responseKeyR.hexString),
      ("message-i2", i2.hexString), ("th3", th3.hexString), ("th3-with-response", th3WithResponse.hexString),
      ("message-r2", r2.hexString), ("th4", th4.hexString),
      ("final-transcript-hash", thFinal.hexString), ("session-prk", prkSession.hexString),
    ]
    for (name, label) in [
      ("initiator-to-responder-encryption", "SecureChat v1 session initiator-to-responder encryption"),
      ("initiator-to-responder-authentication", "SecureChat v1 session initiator-to-responder authentication"),
      ("responder-to-initiator-encryption", "SecureChat v1 session responder-to-initiator encryption"),
      ("responder-to-initiator-authentication", "SecureChat v1 session responder-to-initiator authentication"),
      ("session-id", "SecureChat v1 session id"),
    ] {
      fields.append((name, try hkdf(prkSession, salt: [], label).hexString))
    }
    fields.append(
      (
        "verification-code",
        KeySchedule.verificationCode(initiatorPublicKey: ei.publicKey, responderPublicKey: er.publicKey)
      ))
    try write(directory, "good-handshake", fields, i1 + r1 + i2 + r2)

    // Bad: what one side receives, and the error class it must end with. No side completes.
    func bad(_ name: String, role: Handshake.Role, _ errorClass: String, _ received: [[UInt8]]) throws {
      var badFields: [(String, String)] = [
        ("kind", "handshake-failure"), ("expect", "error \(errorClass)"), ("psk", V.psk.hexString),
        ("role", role == .initiator ? "initiator" : "responder"),
        ("local-name", role == .initiator ? "alice" : "bob"),
      ]
      let r = role == .initiator ? V.initiatorRandomness : V.responderRandomness
      badFields += [
        ("ephemeral-secret", r.secret.hexString), ("challenge", r.challenge.hexString), ("name-iv", r.iv.hexString),
      ]
      for (index, message) in received.enumerated() { badFields.append(("receive-\(index + 1)", message.hexString)) }
      try write(directory, name, badFields, [])
    }
    func flipped(_ message: [UInt8], _ offset: Int) -> [UInt8] {
      var m = message
      m[offset] ^= 0x01
      return m
    }
    let zeroKey = [UInt8](repeating: 0, count: 32)
    try bad(
      "i2-zero-public-key", role: .responder, "invalid-public-key",
      [
        Array(i1[0..<4]) + Handshake.commitment(to: zeroKey) + Array(i1[36...]),
        Array(i2[0..<3]) + zeroKey + Array(i2[35...]),
      ])
    try bad(
      "i2-key-not-committed", role: .responder, "authentication",
      [i1, Array(i2[0..<3]) + er.publicKey + Array(i2[35...])])
    try bad(
      "i1-commitment-changed", role: .responder, "authentication",
      [Array(i1[0..<4]) + [UInt8](repeating: 0, count: 32) + Array(i1[36...]), i2])
    try bad("i1-version-2", role: .responder, "unsupported-version", [Array(i1[0..<3]) + [2] + Array(i1[4...])])
    try bad("i1-short-body", role: .responder, "malformed", [[0x01, 0x00, 0x40] + Array(i1[3..<67])])
    try bad("not-a-peer", role: .responder, "not-a-peer", [Array("GET / HTTP/1.1\r\n".utf8)])
    try bad("i1-challenge-flipped", role: .responder, "authentication", [flipped(i1, 40), i2])
    try bad("i2-response-flipped", role: .responder, "authentication", [i1, flipped(i2, i2.count - 1)])
    try bad("i2-name-frame-flipped", role: .responder, "authentication", [i1, flipped(i2, 40)])
    try bad("i2-truncated", role: .responder, "truncated", [i1, Array(i2.dropLast())])
    try bad("i2-hostile-length", role: .responder, "malformed", [i1, [0x03, 0xff, 0xff] + Array(i2[3...])])
    let otherKeyMessages = try HandshakeVectors.goodMessages(responderPSK: V.otherPSK)
    // An initiator holding another key: its I2 does not verify under ours.
    let otherInitiator = try V.machine(.initiator, psk: V.otherPSK)
    let otherI1 = otherInitiator.start()!
    XCTAssertEqual(otherI1, i1)
    let otherI2 = try otherInitiator.receive(otherKeyMessages[1])!
    try bad("i2-other-key", role: .responder, "authentication", [i1, otherI2])
    try bad("i2-replayed-as-i1", role: .responder, "unexpected-message", [i2])
    try bad("abort", role: .responder, "rejected", [HandshakeMessage.abortMessage])
    try bad("r1-reflected-i1", role: .initiator, "unexpected-message", [i1])
    try bad(
      "r1-zero-public-key", role: .initiator, "invalid-public-key",
      [Array(r1[0..<4]) + [UInt8](repeating: 0, count: 32) + Array(r1[36...])])
    try bad("r2-response-flipped", role: .initiator, "authentication", [r1, flipped(r2, r2.count - 5)])
    try bad("r2-name-frame-flipped", role: .initiator, "authentication", [r1, flipped(r2, 50)])
    var reflectedI2 = i2
    reflectedI2[0] = HandshakeMessageType.responderAuth.rawValue
    try bad("r2-reflected-i2", role: .initiator, "authentication", [r1, reflectedI2])
    try bad("r2-abort", role: .initiator, "rejected", [r1, HandshakeMessage.abortMessage])
  }

  func writeSessionStreamVectors(_ directory: String) throws {
    typealias V = HandshakeVectors
    let keys = try (0..<4).map { index in
      try HKDFSHA256.derive(
        inputKeyMaterial: SecretBytes(copying: V.psk), salt: [], info: Array("session vector key \(index)".utf8),
        outputCount: 32)
    }
    let inbound = FrameKeys(encryption: keys[0], authentication: keys[1])
    let outbound = FrameKeys(encryption: keys[2], authentication: keys[3])
    let ivs = (0..<16).map { i in (0..<16).map { UInt8(truncatingIfNeeded: i &* 16 &+ $0) } }
    func frames(_ messages: [String], keys: FrameKeys = inbound, final: Bool = true) throws -> [[UInt8]] {
      let sealer = try FrameSealer(keys: keys, fixedIVs: ivs)
      var out = messages.map { sealer.seal(Array($0.utf8), isFinal: false) }
      if final { out.append(sealer.seal([], isFinal: true)) }
      return out
    }
    func vector(_ name: String, _ expect: String, released: String, _ stream: [UInt8]) throws {
      try write(
        directory, name,
        [
          ("kind", "session-stream"), ("expect", expect),
          ("receive-encryption", keys[0].copyForTesting().hexString),
          ("receive-authentication", keys[1].copyForTesting().hexString),
          ("released-size", "\(released.utf8.count)"),
          ("released-sha256", SHA256.hash(Array(released.utf8)).hexString),
        ], stream)
    }
    let good = try frames(["hello bob\n", "how are you?\n", "bye\n"])
    try vector("good-three-messages", "success", released: "hello bob\nhow are you?\nbye\n", good.flatMap { $0 })
    try vector("good-empty-session", "success", released: "", try frames([]).flatMap { $0 })
    let first = "hello bob\n"
    try vector(
      "missing-final-frame", "error truncated", released: "hello bob\nhow are you?\nbye\n",
      good.dropLast().flatMap { $0 })
    try vector("cut-mid-frame", "error truncated", released: first, good[0] + Array(good[1].prefix(50)))
    try vector("empty-stream", "error truncated", released: "", [])
    try vector("replayed-frame", "error out-of-order", released: first, good[0] + good[0] + good[1])
    try vector("reordered-frames", "error out-of-order", released: first, good[0] + good[2] + good[1] + good[3])
    try vector("dropped-frame", "error out-of-order", released: first, good[0] + good[2] + good[3])
    try vector(
      "reflected-frame", "error authentication", released: first, good[0] + (try frames(["echo\n"], keys: outbound))[0])
    let otherSession = try frames(
      ["from another session\n"], keys: FrameKeys(encryption: keys[3], authentication: keys[2]))
    try vector("frame-of-another-session", "error authentication", released: "", otherSession[0] + good[1])
    try vector(
      "data-after-final", "error trailing-data", released: "hello bob\nhow are you?\nbye\n", good.flatMap { $0 } + [0])
    try vector(
      "two-final-frames", "error trailing-data", released: "hello bob\nhow are you?\nbye\n",
      good.flatMap { $0 } + good[3])
    var flipped = good[1]
    flipped[40] ^= 0x04
    try vector("ciphertext-flipped", "error corrupted", released: first, good[0] + flipped + good[2] + good[3])
    let crc = CRC32.checksum(Array(flipped.dropLast(4)))
    flipped.replaceSubrange(
      (flipped.count - 4)..., with: (0..<4).map { UInt8(truncatingIfNeeded: crc >> (24 - 8 * $0)) })
    try vector(
      "ciphertext-flipped-crc-fixed", "error authentication", released: first, good[0] + flipped + good[2] + good[3])
    var lying = good[1]
    lying[15] = 0x11
    try vector("length-not-block-multiple", "error bad-length", released: first, good[0] + lying + good[2] + good[3])
    lying[12] = 0x7f
    try vector("length-huge", "error bad-length", released: first, good[0] + lying)
  }
}
