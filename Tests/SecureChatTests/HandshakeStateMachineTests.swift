import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// The initiator and responder state machines back to back in memory (swift-nio-ssh's habit):
/// the happy path, then every way a message can be wrong.
final class HandshakeStateMachineTests: XCTestCase {
  let psk = SecretBytes.random(count: 32)

  private func pair(responderKey: SecretBytes? = nil) throws -> (Handshake, Handshake) {
    (
      try Handshake(role: .initiator, psk: psk, localName: Array("alice".utf8)),
      try Handshake(role: .responder, psk: responderKey ?? psk, localName: Array("bob".utf8))
    )
  }

  /// Runs a handshake, passing each message (I1, R1, I2, R2 = 0...3) through `tamper`.
  /// Returns the error each side threw, if any.
  @discardableResult
  private func run(
    _ initiator: Handshake, _ responder: Handshake, tamper: (Int, [UInt8]) -> [UInt8] = { $1 }
  ) -> (initiatorError: Error?, responderError: Error?) {
    var message = initiator.start()!
    XCTAssertNil(responder.start())
    var index = 0
    var sender = initiator
    var receiver = responder
    while true {
      let delivered = tamper(index, message)
      do {
        guard let reply = try receiver.receive(delivered) else { return (nil, nil) }
        message = reply
      } catch {
        return receiver === initiator ? (error, nil) : (nil, error)
      }
      index += 1
      swap(&sender, &receiver)
    }
  }

  func testHandshakeAgreesOnKeysNamesAndCode() throws {
    let (initiator, responder) = try pair()
    let errors = run(initiator, responder)
    XCTAssertNil(errors.initiatorError)
    XCTAssertNil(errors.responderError)
    let i = try XCTUnwrap(initiator.result)
    let r = try XCTUnwrap(responder.result)
    XCTAssertEqual(i.peerName, Array("bob".utf8))
    XCTAssertEqual(r.peerName, Array("alice".utf8))
    XCTAssertEqual(i.sessionID, r.sessionID)
    XCTAssertEqual(i.verificationCode, r.verificationCode)
    XCTAssertEqual(i.transcriptHash, r.transcriptHash)
    XCTAssertTrue(i.send.encryption.constantTimeEquals(r.receive.encryption))
    XCTAssertTrue(i.send.authentication.constantTimeEquals(r.receive.authentication))
    XCTAssertTrue(r.send.encryption.constantTimeEquals(i.receive.encryption))
    // Separate keys per direction and per purpose.
    XCTAssertFalse(i.send.encryption.constantTimeEquals(i.receive.encryption))
    XCTAssertFalse(i.send.encryption.constantTimeEquals(i.send.authentication))
    XCTAssertFalse(i.send.encryption.constantTimeEquals(psk))
    XCTAssertNotNil(i.verificationCode.wholeMatch(of: /\d{3} \d{3} \d{3} \d{3}/))

    // A frame sealed by one side opens on the other, and not with the sender's own keys (reflection).
    let frame = try FrameSealer(keys: i.send).seal(Array("hello".utf8), isFinal: false)
    XCTAssertEqual(try FrameOpener(keys: r.receive).open(frame: frame).plaintext, Array("hello".utf8))
    XCTAssertThrowsError(try FrameOpener(keys: i.receive).open(frame: frame))
  }

  /// The code depends on the two ephemeral keys only: bytes a man in the middle chooses freely
  /// in his last message (the name frame's IV) must not change it, or he could grind a match.
  func testVerificationCodeIgnoresFreelyChosenBytes() throws {
    let secretI = SecretBytes.random(count: 32)
    let secretR = SecretBytes.random(count: 32)
    var codes: Set<String> = []
    for iv in 0..<4 {
      let randomness = { (secret: SecretBytes) in
        Handshake.Randomness(
          ephemeralSecret: secret, challenge: SecureRandom.bytes(count: 32),
          nameFrameIV: [UInt8](repeating: UInt8(iv), count: 16))
      }
      let initiator = try Handshake(
        role: .initiator, psk: psk, localName: Array("alice".utf8), randomness: randomness(secretI))
      let responder = try Handshake(
        role: .responder, psk: psk, localName: Array("bob".utf8), randomness: randomness(secretR))
      run(initiator, responder)
      codes.insert(try XCTUnwrap(initiator.result).verificationCode)
      XCTAssertEqual(initiator.result?.verificationCode, responder.result?.verificationCode)
    }
    XCTAssertEqual(codes.count, 1)
    let (other, otherResponder) = try pair()
    run(other, otherResponder)
    XCTAssertFalse(codes.contains(other.result!.verificationCode))
  }

  func testEachHandshakeIsFresh() throws {
    let (i1, r1) = try pair()
    run(i1, r1)
    let (i2, r2) = try pair()
    run(i2, r2)
    XCTAssertNotEqual(i1.result!.sessionID, i2.result!.sessionID)
    XCTAssertFalse(i1.result!.send.encryption.constantTimeEquals(i2.result!.send.encryption))
  }

  func testWrongKeyFailsOnTheResponderWhichNeverAnswers() throws {
    let (initiator, responder) = try pair(responderKey: .random(count: 32))
    let errors = run(initiator, responder)
    XCTAssertNil(errors.initiatorError)
    guard case .authenticationFailed = errors.responderError as? HandshakeError else {
      return XCTFail("expected authentication failure, got \(String(describing: errors.responderError))")
    }
    XCTAssertEqual(responder.state, .failed)
    XCTAssertNil(responder.result)
    XCTAssertNil(initiator.result)
    // The failed machine refuses anything further: it never sends data.
    XCTAssertThrowsError(try responder.receive([0x03, 0, 0]))
  }

  /// Every single-bit flip in every byte of every message: the initiator never completes, and the
  /// responder never completes unless the flip is in R2 (which it sent after finishing).
  func testEveryBitFlipInEveryMessageFails() throws {
    let (i0, r0) = try pair()
    var sizes: [Int] = []
    run(i0, r0) {
      sizes.append($1.count)
      return $1
    }
    XCTAssertEqual(sizes.count, 4)
    for message in 0..<4 {
      for offset in 0..<sizes[message] {
        let (initiator, responder) = try pair()
        let bit = UInt8(1 << (offset % 8))
        run(initiator, responder) { index, bytes in
          guard index == message else { return bytes }
          var changed = bytes
          changed[offset] ^= bit
          return changed
        }
        XCTAssertNil(initiator.result, "message \(message) byte \(offset)")
        if message < 3 { XCTAssertNil(responder.result, "message \(message) byte \(offset)") }
      }
    }
  }

  func testTruncatedAndExtendedMessagesFail() throws {
    for message in 0..<4 {
      for change in [-1, -20, +1] {
        let (initiator, responder) = try pair()
        run(initiator, responder) { index, bytes in
          guard index == message else { return bytes }
          return change < 0 ? Array(bytes.dropLast(-change)) : bytes + [0]
        }
        XCTAssertNil(initiator.result, "message \(message) change \(change)")
        if message < 3 { XCTAssertNil(responder.result) }
      }
    }
  }

  func testReorderedMessagesFail() throws {
    // The responder receives the initiator's I2 where I1 is expected (and vice versa for R1/R2).
    let (i0, r0) = try pair()
    var messages: [[UInt8]] = []
    run(i0, r0) {
      messages.append($1)
      return $1
    }
    let responder = try Handshake(role: .responder, psk: psk, localName: Array("bob".utf8))
    _ = responder.start()
    XCTAssertThrowsError(try responder.receive(messages[2]))
    let initiator = try Handshake(role: .initiator, psk: psk, localName: Array("alice".utf8))
    _ = initiator.start()
    XCTAssertThrowsError(try initiator.receive(messages[3]))
    XCTAssertEqual(initiator.state, .failed)
  }

  func testMessagesReplayedFromAnotherSessionFail() throws {
    let (oldI, oldR) = try pair()
    var old: [[UInt8]] = []
    run(oldI, oldR) {
      old.append($1)
      return $1
    }
    // Replay the old I2 (old proof) into a new session's responder, and the old R2 into a new initiator.
    for replayed in [2, 3] {
      let (initiator, responder) = try pair()
      run(initiator, responder) { index, bytes in index == replayed ? old[replayed] : bytes }
      XCTAssertNil(initiator.result)
      if replayed == 2 { XCTAssertNil(responder.result) }
    }
    // An old R1 in a new session: the transcripts differ, so the responder rejects I2.
    let (initiator, responder) = try pair()
    run(initiator, responder) { index, bytes in index == 1 ? old[1] : bytes }
    XCTAssertNil(initiator.result)
    XCTAssertNil(responder.result)
  }

  func testReflectedMessagesFail() throws {
    // I1 sent back to the initiator as if it were R1 (same type byte fixed up too).
    let initiator = try Handshake(role: .initiator, psk: psk, localName: Array("alice".utf8))
    var reflected = initiator.start()!
    XCTAssertThrowsError(try initiator.receive(reflected))
    let second = try Handshake(role: .initiator, psk: psk, localName: Array("alice".utf8))
    reflected = second.start()!
    reflected[0] = HandshakeMessageType.responderHello.rawValue
    let i2 = try second.receive(reflected)!  // DH with itself: allowed so far, nothing is proven yet
    var fakeR2 = i2
    fakeR2[0] = HandshakeMessageType.responderAuth.rawValue
    XCTAssertThrowsError(try second.receive(fakeR2)) { error in
      guard case .authenticationFailed = error as? HandshakeError else { return XCTFail("\(error)") }
    }
    XCTAssertNil(second.result)
  }

  func testLowOrderAndZeroPublicKeysFail() throws {
    let lowOrder: [[UInt8]] = [
      [UInt8](repeating: 0, count: 32), [1] + [UInt8](repeating: 0, count: 31),
      [UInt8](hexString: "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")!,
    ]
    for point in lowOrder {
      // A hostile initiator commits to a low-order point in I1 and reveals it in I2.
      let (initiator, responder) = try pair()
      let errors = run(initiator, responder) { index, bytes in
        switch index {
        case 0: return Array(bytes[0..<4]) + Handshake.commitment(to: point) + Array(bytes[36...])
        case 2: return Array(bytes[0..<3]) + point + Array(bytes[35...])
        default: return bytes
        }
      }
      XCTAssertEqual(errors.responderError as? HandshakeError, .invalidPublicKey)
      XCTAssertNil(responder.result)
      // And a hostile responder sends one in R1.
      let (i2, r2) = try pair()
      let reverse = run(i2, r2) { index, bytes in index == 1 ? Array(bytes[0..<4]) + point + Array(bytes[36...]) : bytes
      }
      XCTAssertEqual(reverse.initiatorError as? HandshakeError, .invalidPublicKey)
      XCTAssertNil(i2.result)
    }
  }

  /// I1 commits to the initiator's key; I2 must reveal exactly that key.
  func testRevealedKeyMustMatchTheCommitment() throws {
    let (initiator, responder) = try pair()
    let other = try X25519PrivateKey()
    let errors = run(initiator, responder) { index, bytes in
      index == 2 ? Array(bytes[0..<3]) + other.publicKey + Array(bytes[35...]) : bytes
    }
    guard case .authenticationFailed = errors.responderError as? HandshakeError else {
      return XCTFail("expected authentication failure, got \(String(describing: errors.responderError))")
    }
    XCTAssertNil(responder.result)
  }

  func testAbortMessageIsRejectionAndUnknownFirstBytesAreNotAPeer() throws {
    let responder = try Handshake(role: .responder, psk: psk, localName: Array("bob".utf8))
    _ = responder.start()
    XCTAssertThrowsError(try responder.receive(HandshakeMessage.abortMessage)) {
      XCTAssertEqual($0 as? HandshakeError, .rejectedByPeer)
    }
    XCTAssertThrowsError(
      try HandshakeMessage.bodyLength(header: Array("GET".utf8), expecting: .initiatorHello, isFirst: true)
    ) { XCTAssertEqual($0 as? HandshakeError, .notAPeer) }
    // A hostile length is refused from the header alone.
    XCTAssertThrowsError(
      try HandshakeMessage.bodyLength(header: [0x03, 0xff, 0xff], expecting: .initiatorAuth, isFirst: false))
  }

  func testUnsupportedVersionIsReported() throws {
    let (initiator, responder) = try pair()
    run(initiator, responder) { index, bytes in
      guard index == 0 else { return bytes }
      var changed = bytes
      changed[3] = 2
      return changed
    }
    XCTAssertEqual(responder.state, .failed)
  }

  func testNamesAreEncryptedOnTheWire() throws {
    let (initiator, responder) = try pair()
    var wire: [UInt8] = []
    run(initiator, responder) {
      wire += $1
      return $1
    }
    XCTAssertNil(wire.firstRange(of: Array("alice".utf8)))
    XCTAssertNil(wire.firstRange(of: Array("bob".utf8)))
  }

  func testSessionFileRoundTripAndTamperDetection() throws {
    let (initiator, responder) = try pair()
    run(initiator, responder)
    let session = try XCTUnwrap(initiator.result)
    let bytes = SessionFile.serialize(session).copyForTesting()
    let parsed = try bytes.withUnsafeBytes { try SessionFile.parse($0) }
    XCTAssertEqual(parsed.peerName, session.peerName)
    XCTAssertEqual(parsed.verificationCode, session.verificationCode)
    XCTAssertTrue(parsed.receive.authentication.constantTimeEquals(session.receive.authentication))
    for cut in [0, 7, 100, bytes.count - 1] {
      XCTAssertThrowsError(try Array(bytes[..<cut]).withUnsafeBytes { try SessionFile.parse($0) })
    }
    var wrongCode = bytes
    wrongCode[bytes.count - 1] = UInt8(ascii: "x")
    XCTAssertThrowsError(try wrongCode.withUnsafeBytes { try SessionFile.parse($0) })
  }
}
