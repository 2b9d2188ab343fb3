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

    try writeMoreHandshakeFailures(
      bad, i1: i1, r1: r1, i2: i2, r2: r2, initiatorPublicKey: ei.publicKey, th2: th2,
      th3WithResponse: th3WithResponse, responseKeys: (responseKeyI, responseKeyR),
      handshakeKeys: (
        initiator: FrameKeys(
          encryption: SecretBytes(
            copying: try hkdf(prkHandshake, salt: [], "SecureChat v1 handshake initiator encryption")),
          authentication: SecretBytes(
            copying: try hkdf(prkHandshake, salt: [], "SecureChat v1 handshake initiator authentication"))),
        responder: FrameKeys(
          encryption: SecretBytes(
            copying: try hkdf(prkHandshake, salt: [], "SecureChat v1 handshake responder encryption")),
          authentication: SecretBytes(
            copying: try hkdf(prkHandshake, salt: [], "SecureChat v1 handshake responder authentication")))
      ))
  }

  /// Every header field out of range, each message truncated, low-order keys, messages out of
  /// turn or from another session, and name frames that only a holder of the key could make: each
  /// with a response that verifies over it, so that the checks after the response (§3.5 A2-A4) run.
  private func writeMoreHandshakeFailures(
    _ bad: (String, Handshake.Role, String, [[UInt8]]) throws -> Void,
    i1: [UInt8], r1: [UInt8], i2: [UInt8], r2: [UInt8], initiatorPublicKey: [UInt8], th2: [UInt8],
    th3WithResponse: [UInt8], responseKeys: ([UInt8], [UInt8]),
    handshakeKeys: (initiator: FrameKeys, responder: FrameKeys)
  ) throws {
    typealias V = HandshakeVectors
    func header(_ type: UInt8, _ length: Int) -> [UInt8] { [type, UInt8(length >> 8), UInt8(length & 0xff)] }
    func zeros(_ count: Int) -> [UInt8] { [UInt8](repeating: 0, count: count) }

    // Header fields: the type, unknown on the first message and on a later one.
    try bad("first-message-type-unknown", .responder, "not-a-peer", [[0x05] + Array(i1.dropFirst())])
    try bad("r1-type-unknown", .initiator, "not-a-peer", [[0x05] + Array(r1.dropFirst())])
    try bad("i2-type-unknown", .responder, "malformed", [i1, [0x05] + Array(i2.dropFirst())])
    try bad("r2-type-unknown", .initiator, "malformed", [r1, [0x00] + Array(r2.dropFirst())])
    try bad("abort-with-body", .responder, "malformed", [header(0x7f, 1) + [0]])
    // The length: below, above and far above the range of each message type.
    try bad("i1-length-long", .responder, "malformed", [header(0x01, 66) + Array(i1.dropFirst(3)) + [0]])
    try bad("i1-length-huge", .responder, "malformed", [header(0x01, 0xffff) + Array(i1.dropFirst(3))])
    try bad("r1-length-short", .initiator, "malformed", [header(0x02, 64) + Array(r1[3..<67])])
    try bad("r1-length-huge", .initiator, "malformed", [header(0x02, 0xffff) + Array(r1.dropFirst(3))])
    try bad("i2-length-below-minimum", .responder, "malformed", [i1, header(0x03, 147) + Array(i2[3..<150])])
    try bad(
      "i2-length-above-maximum", .responder, "malformed", [i1, header(0x03, 213) + Array(i2.dropFirst(3)) + zeros(65)])
    try bad("r2-length-below-minimum", .initiator, "malformed", [r1, header(0x04, 115) + Array(r2[3..<118])])
    try bad(
      "r2-length-above-maximum", .initiator, "malformed", [r1, header(0x04, 181) + Array(r2.dropFirst(3)) + zeros(65)])
    try bad("r2-length-huge", .initiator, "malformed", [r1, header(0x04, 0xffff) + Array(r2.dropFirst(3))])
    // The version of each hello.
    try bad("i1-version-0", .responder, "unsupported-version", [Array(i1[0..<3]) + [0] + Array(i1[4...])])
    try bad("r1-version-2", .initiator, "unsupported-version", [Array(r1[0..<3]) + [2] + Array(r1[4...])])

    // Each message cut: inside its header, right after it, inside its body.
    try bad("i1-truncated-in-header", .responder, "truncated", [Array(i1.prefix(2))])
    try bad("i1-header-only", .responder, "truncated", [Array(i1.prefix(3))])
    try bad("i1-truncated", .responder, "truncated", [Array(i1.prefix(40))])
    try bad("r1-truncated-in-header", .initiator, "truncated", [Array(r1.prefix(1))])
    try bad("r1-header-only", .initiator, "truncated", [Array(r1.prefix(3))])
    try bad("r1-truncated", .initiator, "truncated", [Array(r1.dropLast())])
    try bad("i2-truncated-in-header", .responder, "truncated", [i1, Array(i2.prefix(2))])
    try bad("i2-header-only", .responder, "truncated", [i1, Array(i2.prefix(3))])
    try bad("r2-truncated-in-header", .initiator, "truncated", [r1, Array(r2.prefix(2))])
    try bad("r2-header-only", .initiator, "truncated", [r1, Array(r2.prefix(3))])
    try bad("r2-truncated", .initiator, "truncated", [r1, Array(r2.dropLast())])

    // Messages repeated or out of turn (the handshake's sequence).
    try bad("i1-repeated", .responder, "unexpected-message", [i1, i1])
    try bad("r1-repeated", .initiator, "unexpected-message", [r1, r1])
    try bad("r2-before-r1", .initiator, "unexpected-message", [r2])
    try bad("r2-reflected-i2-as-is", .initiator, "unexpected-message", [r1, i2])

    // Low-order X25519 public keys (RFC 7748 §7; the non-zero ones of libsodium's list): every
    // one gives an all-zero DH output with a clamped secret.
    let lowOrder: [(String, String)] = [
      ("one", "0100000000000000000000000000000000000000000000000000000000000000"),
      ("order-8-a", "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
      ("order-8-b", "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
      ("p-minus-1", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
      ("p", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
      ("p-plus-1", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    ]
    let initiatorSecret = try X25519PrivateKey(rawRepresentation: SecretBytes(copying: V.initiatorRandomness.secret))
    let responderSecret = try X25519PrivateKey(rawRepresentation: SecretBytes(copying: V.responderRandomness.secret))
    for (name, hex) in lowOrder {
      let key = [UInt8](hexString: hex)!
      XCTAssertNil(initiatorSecret.sharedSecret(with: key), name)
      XCTAssertNil(responderSecret.sharedSecret(with: key), name)
      try bad(
        "r1-low-order-public-key-\(name)", .initiator, "invalid-public-key", [Array(r1[0..<4]) + key + Array(r1[36...])]
      )
    }
    let order8 = [UInt8](hexString: lowOrder[1].1)!
    try bad(
      "i2-low-order-public-key-order-8-a", .responder, "invalid-public-key",
      [
        Array(i1[0..<4]) + Handshake.commitment(to: order8) + Array(i1[36...]),
        Array(i2[0..<3]) + order8 + Array(i2[35...]),
      ])

    // Messages of another session: the same I1 answered by another responder (other random
    // values, the same key); its I2 matches our commitment but not our transcript.
    let otherResponder = try Handshake(
      role: .responder, psk: SecretBytes(copying: V.psk), localName: Array("bob".utf8),
      randomness: .init(
        ephemeralSecret: SecretBytes(copying: V.randomness(4).secret), challenge: V.randomness(4).challenge,
        nameFrameIV: V.randomness(4).iv))
    let otherInitiator = try V.machine(.initiator)
    _ = otherResponder.start()
    let otherR1 = try otherResponder.receive(otherInitiator.start()!)!
    let otherI2 = try otherInitiator.receive(otherR1)!
    let otherR2 = try otherResponder.receive(otherI2)!
    try bad("i2-from-another-session", .responder, "authentication", [i1, otherI2])
    try bad("r2-from-another-session", .initiator, "authentication", [r1, otherR2])

    // Name frames made with the handshake keys, under a response that verifies (§3.5 A2-A4).
    func makeI2(nameFrame: [UInt8]) throws -> [UInt8] {
      let prefix = header(0x03, 32 + nameFrame.count + 32) + initiatorPublicKey + nameFrame
      return prefix
        + (try HMACSHA256(key: SecretBytes(copying: responseKeys.0)).authenticate(
          Array("SecureChat v1 initiator response".utf8), SHA256.hash(th2 + prefix)))
    }
    func makeR2(nameFrame: [UInt8]) throws -> [UInt8] {
      let prefix = header(0x04, nameFrame.count + 32) + nameFrame
      return prefix
        + (try HMACSHA256(key: SecretBytes(copying: responseKeys.1)).authenticate(
          Array("SecureChat v1 responder response".utf8), SHA256.hash(th3WithResponse + prefix)))
    }
    func nameFrame(
      _ keys: FrameKeys, version: UInt8 = 1, type: UInt8 = 1, flags: UInt8 = 1, reserved: UInt8 = 0,
      sequence: UInt64 = 0, padded: [UInt8]
    ) throws -> [UInt8] {
      try ForgedFrame.make(
        keys: keys, version: version, type: type, flags: flags, reserved: reserved, sequence: sequence,
        paddedPlaintext: padded, iv: V.initiatorRandomness.iv)
    }
    let alice = ForgedFrame.pkcs7(Array("alice".utf8))
    let bob = ForgedFrame.pkcs7(Array("bob".utf8))
    let goodFrameI = Array(i2[35..<(i2.count - 32)])
    let goodFrameR = Array(r2[3..<(r2.count - 32)])
    // The helpers rebuild the good messages exactly.
    XCTAssertEqual(try makeI2(nameFrame: goodFrameI), i2)
    XCTAssertEqual(try makeR2(nameFrame: goodFrameR), r2)
    XCTAssertEqual(try nameFrame(handshakeKeys.initiator, padded: alice), goodFrameI)
    let keysI = handshakeKeys.initiator
    func i2Case(_ name: String, _ errorClass: String, _ frame: [UInt8]) throws {
      try bad("i2-\(name)-valid-response", .responder, errorClass, [i1, try makeI2(nameFrame: frame)])
    }
    var frame = goodFrameI
    frame[frame.count - 40] ^= 0x01  // a tag byte
    ForgedFrame.fixCRC(&frame)
    try i2Case("name-frame-tag-flipped-crc-fixed", "authentication", frame)
    frame = goodFrameI
    frame[frame.count - 1] ^= 0x01
    try i2Case("name-frame-crc-flipped", "authentication", frame)
    try i2Case(
      "name-frame-bad-padding", "authentication",
      try nameFrame(keysI, padded: Array("alice".utf8) + [UInt8](repeating: 0x0b, count: 10) + [0x0c]))
    try i2Case("name-frame-version-2", "authentication", try nameFrame(keysI, version: 2, padded: alice))
    try i2Case("name-frame-type-unknown", "authentication", try nameFrame(keysI, type: 0x7f, padded: alice))
    try i2Case("name-frame-flags-reserved-bit", "authentication", try nameFrame(keysI, flags: 0x03, padded: alice))
    try i2Case("name-frame-reserved-byte", "authentication", try nameFrame(keysI, reserved: 1, padded: alice))
    try i2Case("name-frame-sequence-1", "authentication", try nameFrame(keysI, sequence: 1, padded: alice))
    try i2Case("name-frame-not-final", "malformed", try nameFrame(keysI, flags: 0, padded: alice))
    try i2Case("name-frame-type-receipt", "malformed", try nameFrame(keysI, type: 0x02, padded: alice))
    try i2Case("name-not-valid", "malformed", try nameFrame(keysI, padded: ForgedFrame.pkcs7(Array("al ice".utf8))))
    try i2Case("name-empty", "malformed", try nameFrame(keysI, padded: ForgedFrame.pkcs7([])))
    frame = goodFrameI
    ForgedFrame.setLength(&frame, 32)
    try i2Case("name-frame-length-lie", "authentication", frame)
    try i2Case("name-frame-trailing-bytes", "authentication", goodFrameI + zeros(16))
    try i2Case("name-frame-of-responder", "authentication", try nameFrame(handshakeKeys.responder, padded: alice))
    try i2Case("name-frame-from-another-session", "authentication", Array(otherI2[35..<(otherI2.count - 32)]))
    // §3.5 A5: the responder's own name, from its own other role or someone posing as it.
    try i2Case("name-is-responders-own", "authentication", try nameFrame(keysI, padded: bob))
    // Two name frames do not fit: the body length is out of range before anything else.
    try bad("i2-two-name-frames", .responder, "malformed", [i1, try makeI2(nameFrame: goodFrameI + goodFrameI)])

    func r2Case(_ name: String, _ errorClass: String, _ frame: [UInt8]) throws {
      try bad("r2-\(name)-valid-response", .initiator, errorClass, [r1, try makeR2(nameFrame: frame)])
    }
    let keysR = handshakeKeys.responder
    try r2Case(
      "name-frame-bad-padding", "authentication",
      try nameFrame(keysR, padded: Array("bob".utf8) + [UInt8](repeating: 0x0d, count: 12) + [0x00]))
    try r2Case("name-frame-not-final", "malformed", try nameFrame(keysR, flags: 0, padded: bob))
    try r2Case("name-not-valid", "malformed", try nameFrame(keysR, padded: ForgedFrame.pkcs7(Array("bob\n".utf8))))
    try r2Case("name-frame-of-initiator", "authentication", try nameFrame(keysI, padded: bob))
    try r2Case("name-is-initiators-own", "authentication", try nameFrame(keysR, padded: alice))
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
    // PROTOCOL.md §6.3 rule 3: the abort of the peer's sc-handshake, alone, is `rejected`; one byte
    // more and it is only a cut stream.
    try vector("abort-after-handshake", "error rejected", released: "", HandshakeMessage.abortMessage)
    try vector("abort-and-one-byte", "error truncated", released: "", HandshakeMessage.abortMessage + [0x00])
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
    try writeMoreSessionStreamVectors(vector, good: good, keys: inbound, ivs: ivs)
  }

  /// Header fields out of range (under a valid tag, and changed by an attacker who fixes the
  /// CRC), bad padding under a valid tag, length fields that lie, and more good streams.
  private func writeMoreSessionStreamVectors(
    _ vector: (String, String, String, [UInt8]) throws -> Void, good: [[UInt8]], keys: FrameKeys, ivs: [[UInt8]]
  ) throws {
    let first = "hello bob\n"
    let all = "hello bob\nhow are you?\nbye\n"
    let second = Array("how are you?\n".utf8)
    // Frame 1 remade by a holder of the keys, with one field changed.
    func forged(
      version: UInt8 = 1, type: UInt8 = 1, flags: UInt8 = 0, reserved: UInt8 = 0, sequence: UInt64 = 1,
      padded: [UInt8]? = nil
    ) throws -> [UInt8] {
      try ForgedFrame.make(
        keys: keys, version: version, type: type, flags: flags, reserved: reserved, sequence: sequence,
        paddedPlaintext: padded ?? ForgedFrame.pkcs7(second), iv: ivs[1])
    }
    XCTAssertEqual(try forged(), good[1])
    func instead(_ frame: [UInt8]) -> [UInt8] { good[0] + frame + good[2] + good[3] }

    try vector("frame-version-2-under-valid-tag", "error unsupported", first, instead(try forged(version: 2)))
    try vector("frame-type-unknown-under-valid-tag", "error unsupported", first, instead(try forged(type: 0x7f)))
    try vector(
      "frame-flags-reserved-bit-under-valid-tag", "error unsupported", first, instead(try forged(flags: 0x80)))
    try vector("frame-reserved-byte-under-valid-tag", "error unsupported", first, instead(try forged(reserved: 0x01)))
    try vector(
      "first-frame-sequence-1-under-valid-tag", "error out-of-order", "",
      (try forged()) + good[2] + good[3])
    try vector(
      "sequence-repeated-under-valid-tag", "error out-of-order", first, instead(try forged(sequence: 0)))
    for (name, padding) in [
      ("zero", [UInt8](repeating: 0, count: 3)), ("over-block", [UInt8](repeating: 0x11, count: 3)),
      ("inconsistent", [0x03, 0x02, 0x03]),
    ] {
      try vector(
        "bad-padding-\(name)-under-valid-tag", "error malformed", first, instead(try forged(padded: second + padding)))
    }
    try vector(
      "plaintext-over-limit-under-valid-tag", "error malformed", first,
      instead(try forged(padded: [UInt8](repeating: 0x61, count: 65551) + [1])))

    // What an attacker without the keys can do: change a field and fix the CRC.
    func attacked(_ change: (inout [UInt8]) -> Void) -> [UInt8] {
      var frame = good[1]
      change(&frame)
      ForgedFrame.fixCRC(&frame)
      return instead(frame)
    }
    try vector("version-changed-crc-fixed", "error authentication", first, attacked { $0[0] = 2 })
    try vector("final-flag-set-crc-fixed", "error authentication", first, attacked { $0[2] = 1 })
    try vector("sequence-changed-crc-fixed", "error authentication", first, attacked { $0[11] = 5 })
    try vector("tag-flipped-crc-fixed", "error authentication", first, attacked { $0[$0.count - 5] ^= 0x10 })
    var crcFlipped = good[1]
    crcFlipped[crcFlipped.count - 1] ^= 0x01
    try vector("crc-flipped", "error corrupted", first, instead(crcFlipped))

    // Length fields: out of range, and in range but lying (shorter: the CRC is then read from
    // inside the frame; longer than what is left of the stream).
    for (name, length) in [("zero", 0), ("too-long", 65568)] {
      var frame = good[1]
      ForgedFrame.setLength(&frame, length)
      try vector("length-\(name)", "error bad-length", first, instead(frame))
    }
    let long = "a message of forty-nine bytes, in four blocks...\n"
    let sealer = try FrameSealer(keys: keys, fixedIVs: ivs)
    var longFrame = sealer.seal(Array(long.utf8), isFinal: false)
    ForgedFrame.setLength(&longFrame, 32)
    try vector("length-short", "error corrupted", "", longFrame + sealer.seal([], isFinal: true))
    var finalFrame = good[3]
    ForgedFrame.setLength(&finalFrame, 32)
    try vector("length-long", "error truncated", all, good[0] + good[1] + good[2] + finalFrame)
    try vector("cut-in-frame-header", "error truncated", first, good[0] + Array(good[1].prefix(10)))

    // Good streams at the edges: an empty message, a message of 65536 bytes (the most a frame
    // carries), and a final frame that carries data (PROTOCOL.md §6.1 allows it).
    let edge = try FrameSealer(keys: keys, fixedIVs: ivs)
    let big = String(repeating: "0123456789abcdef", count: 4096)
    try vector(
      "good-empty-and-largest-messages", "success", big,
      edge.seal([], isFinal: false) + edge.seal(Array(big.utf8), isFinal: false) + edge.seal([], isFinal: true))
    let withData = try FrameSealer(keys: keys, fixedIVs: ivs)
    try vector(
      "good-final-frame-with-data", "success", "hello\nbye\n",
      withData.seal(Array("hello\n".utf8), isFinal: false) + withData.seal(Array("bye\n".utf8), isFinal: true))
  }
}
