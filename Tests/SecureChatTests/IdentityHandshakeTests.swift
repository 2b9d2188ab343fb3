import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// The identity handshake (PROTOCOL.md §11) between two state machines: both sides end with the
/// same keys and each knows the other's static key; a side without the right identity, a thief of
/// one side's identity posing as the other (KCI), a changed key and a missing pre-shared key all
/// fail, and the initiator shows its identity only to a responder that proved its own.
final class IdentityHandshakeTests: XCTestCase {
  struct Party {
    let secret: SecretBytes
    let publicKey: PublicKey
    init() throws {
      secret = .random(count: 32)
      publicKey = try PublicKey(identitySecret: secret)
    }
  }

  /// Accepts exactly `key` (a pinned peer).
  static func pinned(_ key: PublicKey) -> (PublicKey, [UInt8]) throws -> Void {
    { offered, _ in
      guard offered == key else { throw HandshakeError.authenticationFailed("not the pinned key") }
    }
  }

  /// Runs the two machines against each other; returns the messages, and the error if one failed.
  @discardableResult
  /// `preparing`: each side calls prepareForPeerMessage while it waits, as sc-handshake does.
  static func run(_ initiator: Handshake, _ responder: Handshake, preparing: Bool = false) -> (
    messages: [[UInt8]], error: Error?
  ) {
    var messages: [[UInt8]] = []
    do {
      var next = initiator.start()
      XCTAssertNil(responder.start())
      var receiver = responder
      var other = initiator
      while let message = next {
        messages.append(message)
        if preparing {
          // The sender waits for the reply from now on; the receiver has been waiting.
          other.prepareForPeerMessage()
          receiver.prepareForPeerMessage()
        }
        next = try receiver.receive(message)
        swap(&receiver, &other)
      }
      return (messages, nil)
    } catch {
      return (messages, error)
    }
  }

  func testBothSidesAgreeAndLearnEachOthersStaticKey() throws {
    let alice = try Party()
    let bob = try Party()
    let initiator = try Handshake(
      role: .initiator, identity: alice.secret, localName: Array("alice".utf8),
      acceptPeerKey: Self.pinned(bob.publicKey))
    let responder = try Handshake(
      role: .responder, identity: bob.secret, localName: Array("bob".utf8), acceptPeerKey: Self.pinned(alice.publicKey))
    let (messages, error) = Self.run(initiator, responder)
    XCTAssertNil(error)
    XCTAssertEqual(messages.map { $0[0] }, [1, 2, 3, 4, 5, 6])
    XCTAssertEqual(messages.map(\.count)[0...2], [68, 68, 35])
    let i = try XCTUnwrap(initiator.result)
    let r = try XCTUnwrap(responder.result)
    XCTAssertEqual(i.send.encryption.copyForTesting(), r.receive.encryption.copyForTesting())
    XCTAssertEqual(i.receive.authentication.copyForTesting(), r.send.authentication.copyForTesting())
    XCTAssertEqual(i.sessionID, r.sessionID)
    XCTAssertEqual(i.verificationCode, r.verificationCode)
    XCTAssertEqual(initiator.peerStaticKey, bob.publicKey)
    XCTAssertEqual(responder.peerStaticKey, alice.publicKey)
    XCTAssertEqual(i.peerName, Array("bob".utf8))
    XCTAssertEqual(r.peerName, Array("alice".utf8))
  }

  /// The work sc-handshake does while it waits (OpenSSL's set-up, the initiator's `se` computed
  /// before R2) changes no byte and no key: with the same randomness, the same six messages and
  /// the same session as a handshake without it.
  func testPreparingWhileWaitingChangesNothing() throws {
    let alice = try Party()
    let bob = try Party()
    func machines() throws -> (Handshake, Handshake) {
      (
        try Handshake(
          role: .initiator, identity: alice.secret, localName: Array("alice".utf8),
          acceptPeerKey: Self.pinned(bob.publicKey), randomness: Self.fixed(1)),
        try Handshake(
          role: .responder, identity: bob.secret, localName: Array("bob".utf8),
          acceptPeerKey: Self.pinned(alice.publicKey), randomness: Self.fixed(2))
      )
    }
    let (plainInitiator, plainResponder) = try machines()
    let plain = Self.run(plainInitiator, plainResponder)
    let (initiator, responder) = try machines()
    let prepared = Self.run(initiator, responder, preparing: true)
    XCTAssertNil(plain.error)
    XCTAssertNil(prepared.error)
    XCTAssertEqual(prepared.messages, plain.messages)
    for (machine, reference) in [(initiator, plainInitiator), (responder, plainResponder)] {
      let session = try XCTUnwrap(machine.result)
      let expected = try XCTUnwrap(reference.result)
      XCTAssertEqual(session.send.encryption.copyForTesting(), expected.send.encryption.copyForTesting())
      XCTAssertEqual(session.receive.authentication.copyForTesting(), expected.receive.authentication.copyForTesting())
      XCTAssertEqual(session.continuationSecret.copyForTesting(), expected.continuationSecret.copyForTesting())
      XCTAssertEqual(session.sessionID, expected.sessionID)
    }
  }

  /// Key-compromise impersonation: a thief who holds Alice's identity tries to be Bob to Alice,
  /// in either role, showing Bob's public key. He can make every message but a response under a
  /// DH of Bob's static key, which needs Bob's secret (or Alice's ephemeral one).
  func testAThiefOfAlicesIdentityCannotPoseAsBobToAlice() throws {
    let alice = try Party()
    let bob = try Party()
    // Alice as initiator: the thief answers as responder. He cannot put Bob's key in his identity
    // frame and also prove it; with his own key he is refused by the pin.
    let thiefKey = try Party()
    do {
      let initiator = try Handshake(
        role: .initiator, identity: alice.secret, localName: Array("alice".utf8),
        acceptPeerKey: Self.pinned(bob.publicKey))
      let thief = try Handshake(
        role: .responder, identity: thiefKey.secret, localName: Array("bob".utf8), acceptPeerKey: { _, _ in })
      let (messages, error) = Self.run(initiator, thief)
      XCTAssertNotNil(error)
      XCTAssertNil(initiator.result)
      // Alice never sent her identity frame (I3) to him.
      XCTAssertFalse(messages.contains { $0[0] == HandshakeMessageType.initiatorIdentity.rawValue })
    }
    // The thief as responder claiming Bob's static key: he seals Bob's public key in his frame but
    // can only key his response with a DH of a secret he holds. Simulated by a machine whose
    // identity frame carries Bob's key while its DHs use Alice's stolen secret.
    do {
      let initiator = try Handshake(
        role: .initiator, identity: alice.secret, localName: Array("alice".utf8),
        acceptPeerKey: Self.pinned(bob.publicKey))
      let thief = try Handshake(
        role: .responder, identity: alice.secret, psk: nil, localName: Array("bob".utf8), acceptPeerKey: { _, _ in },
        claimedStaticKey: bob.publicKey)
      let (_, error) = Self.run(initiator, thief)
      XCTAssertEqual(HandshakeVectors.errorClass(try XCTUnwrap(error)), "authentication")
      XCTAssertNil(initiator.result)
    }
    // Alice as responder: the thief initiates, claiming Bob's key, with Alice's secret for his DHs.
    do {
      let thief = try Handshake(
        role: .initiator, identity: alice.secret, psk: nil, localName: Array("bob".utf8), acceptPeerKey: { _, _ in },
        claimedStaticKey: bob.publicKey)
      let responder = try Handshake(
        role: .responder, identity: alice.secret, localName: Array("alice".utf8),
        acceptPeerKey: Self.pinned(bob.publicKey))
      let (_, error) = Self.run(thief, responder)
      XCTAssertEqual(HandshakeVectors.errorClass(try XCTUnwrap(error)), "authentication")
      XCTAssertNil(responder.result)
    }
  }

  func testAPinnedPeerWithAnotherKeyIsRefusedAndTheInitiatorStaysHidden() throws {
    let alice = try Party()
    let bob = try Party()
    let mallory = try Party()
    // The initiator expects Bob; Mallory answers with her own (valid) identity.
    let initiator = try Handshake(
      role: .initiator, identity: alice.secret, localName: Array("alice".utf8),
      acceptPeerKey: Self.pinned(bob.publicKey))
    let responder = try Handshake(
      role: .responder, identity: mallory.secret, localName: Array("bob".utf8), acceptPeerKey: { _, _ in })
    let (messages, error) = Self.run(initiator, responder)
    XCTAssertEqual(error as? HandshakeError, .authenticationFailed("not the pinned key"))
    XCTAssertEqual(messages.count, 4, "refused at R2, before I3")
    // The responder expects Alice; Mallory initiates with her own identity: refused at I3, no R3.
    let initiator2 = try Handshake(
      role: .initiator, identity: mallory.secret, localName: Array("alice".utf8), acceptPeerKey: { _, _ in })
    let responder2 = try Handshake(
      role: .responder, identity: bob.secret, localName: Array("bob".utf8), acceptPeerKey: Self.pinned(alice.publicKey))
    let (messages2, error2) = Self.run(initiator2, responder2)
    XCTAssertNotNil(error2)
    XCTAssertEqual(messages2.count, 5)
    XCTAssertNil(responder2.result)
  }

  /// With a pre-shared key as well (§11.3), both sides need it: the same identities with a
  /// different key, or with a key on one side only, fail at the responder's first response.
  func testAPreSharedKeyOnBothSidesIsRequiredWhenGiven() throws {
    let alice = try Party()
    let bob = try Party()
    let psk = SecretBytes.random(count: 32)
    for (initiatorKey, responderKey, works) in [
      (psk, psk, true), (psk, SecretBytes.random(count: 32), false), (psk, nil, false), (nil, psk, false),
    ] as [(SecretBytes?, SecretBytes?, Bool)] {
      let initiator = try Handshake(
        role: .initiator, identity: alice.secret, psk: initiatorKey, localName: Array("alice".utf8),
        acceptPeerKey: Self.pinned(bob.publicKey))
      let responder = try Handshake(
        role: .responder, identity: bob.secret, psk: responderKey, localName: Array("bob".utf8),
        acceptPeerKey: Self.pinned(alice.publicKey))
      let (messages, error) = Self.run(initiator, responder)
      XCTAssertEqual(error == nil, works)
      if !works {
        XCTAssertEqual(HandshakeVectors.errorClass(error!), "authentication")
        XCTAssertEqual(messages.count, 4, "the initiator refuses R2")
      }
    }
  }

  /// A pre-shared key peer and an identity peer do not talk: each sees the other's version.
  func testVersionOneAndVersionTwoRefuseEachOther() throws {
    let alice = try Party()
    let psk = SecretBytes.random(count: 32)
    let v2 = try Handshake(
      role: .initiator, identity: alice.secret, localName: Array("alice".utf8), acceptPeerKey: { _, _ in })
    let v1 = try Handshake(role: .responder, psk: psk, localName: Array("bob".utf8))
    let (_, error) = Self.run(v2, v1)
    XCTAssertEqual(error as? HandshakeError, .unsupportedVersion(2, own: 1))
  }

  /// Every byte of every message, flipped on the way: the handshake fails, and the initiator
  /// (which speaks to the responder last, R3) never ends with keys.
  func testEveryFlippedByteFails() throws {
    let alice = try Party()
    let bob = try Party()
    func machines() throws -> (Handshake, Handshake) {
      (
        try Handshake(
          role: .initiator, identity: alice.secret, localName: Array("alice".utf8),
          acceptPeerKey: Self.pinned(bob.publicKey), randomness: Self.fixed(1)),
        try Handshake(
          role: .responder, identity: bob.secret, localName: Array("bob".utf8),
          acceptPeerKey: Self.pinned(alice.publicKey), randomness: Self.fixed(2))
      )
    }
    let (i, r) = try machines()
    let good = Self.run(i, r).messages
    XCTAssertEqual(good.count, 6)
    var checked = 0
    for index in good.indices {
      for position in good[index].indices {
        let (initiator, responder) = try machines()
        var next = initiator.start()
        var receiver = responder
        var other = initiator
        var count = 0
        var failure: Error?
        do {
          while var message = next {
            if count == index { message[position] ^= 0x01 }
            count += 1
            next = try receiver.receive(message)
            swap(&receiver, &other)
          }
        } catch {
          failure = error
        }
        XCTAssertNotNil(failure, "message \(index) byte \(position)")
        XCTAssertNil(initiator.result, "message \(index) byte \(position)")
        checked += 1
      }
    }
    XCTAssertEqual(checked, good.map(\.count).reduce(0, +))
  }

  static func fixed(_ seed: UInt8) -> Handshake.Randomness {
    let r = HandshakeVectors.randomness(seed)
    return .init(ephemeralSecret: SecretBytes(copying: r.secret), challenge: r.challenge, nameFrameIV: r.iv)
  }
}
