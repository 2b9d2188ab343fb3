import Foundation
import SecureChatCLI
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// A responder with several keys (docs/PROTOCOL.md §3.9), the names the peers must give
/// (`--peer-name`, the peers file's NAME), and the peers file (docs/FORMATS.md §10): the state
/// machines back to back in memory, the parser, and the loader's file checks.
final class PeersTests: XCTestCase {
  /// Three peers, each with its own key and name; the responder knows them by entry labels.
  let peers: [(label: String, name: String, key: SecretBytes)] = [
    ("al", "alice", .random(count: 32)), ("carol", "carol@home", .random(count: 32)),
    ("dave", "dave", .random(count: 32)),
  ]

  private func responderKeys(_ order: [Int]? = nil) -> [Handshake.PeerKey] {
    (order ?? Array(peers.indices)).map {
      Handshake.PeerKey(
        psk: peers[$0].key, expectedName: Array(peers[$0].name.utf8), label: "entry '\(peers[$0].label)'")
    }
  }

  private static func fixed(_ seed: UInt8) -> Handshake.Randomness {
    Handshake.Randomness(
      ephemeralSecret: SecretBytes(copying: (0..<32).map { UInt8(truncatingIfNeeded: Int(seed) &* 37 &+ $0) }),
      challenge: (0..<32).map { UInt8(truncatingIfNeeded: Int(seed) &+ 0x40 &+ $0) },
      nameFrameIV: (0..<16).map { UInt8(truncatingIfNeeded: Int(seed) &+ 0x90 &+ $0) })
  }

  /// Runs the four messages; a side that fails sends the abort, as sc-handshake does (§3.6), and
  /// the other side receives it. Returns each side's error and the messages that were sent.
  @discardableResult
  private func run(_ initiator: Handshake, _ responder: Handshake) -> (
    initiatorError: Error?, responderError: Error?, messages: [[UInt8]]
  ) {
    var messages: [[UInt8]] = []
    var initiatorError: Error?
    var responderError: Error?
    var next = initiator.start()
    XCTAssertNil(responder.start())
    var receiver = responder
    while let message = next {
      messages.append(message)
      // A side that has finished, or failed, reads nothing more.
      guard receiver.expectedMessage != nil else { break }
      do {
        next = try receiver.receive(message)
      } catch {
        if receiver === initiator { initiatorError = error } else { responderError = error }
        if error as? HandshakeError != .rejectedByPeer {
          next = HandshakeMessage.abortMessage
        } else {
          next = nil
        }
      }
      receiver = receiver === initiator ? responder : initiator
    }
    return (initiatorError, responderError, messages)
  }

  private func detail(_ error: Error?) -> String {
    guard case .authenticationFailed(let detail)? = error as? HandshakeError else {
      return "not an authentication failure: \(String(describing: error))"
    }
    return detail
  }

  // MARK: - A responder with several keys

  func testResponderWithThreeKeysIdentifiesEachOfThreeInitiators() throws {
    let responderName = Array("bob".utf8)
    for (index, peer) in peers.enumerated() {
      let initiator = try Handshake(
        role: .initiator, psk: peer.key, localName: Array(peer.name.utf8), expectedPeerName: responderName)
      let responder = try Handshake(role: .responder, keys: responderKeys(), localName: responderName)
      let outcome = run(initiator, responder)
      XCTAssertNil(outcome.initiatorError, peer.label)
      XCTAssertNil(outcome.responderError, peer.label)
      XCTAssertEqual(responder.selectedKeyIndex, index, peer.label)
      let r = try XCTUnwrap(responder.result, peer.label)
      let i = try XCTUnwrap(initiator.result, peer.label)
      XCTAssertEqual(r.peerName, Array(peer.name.utf8))
      XCTAssertEqual(i.peerName, responderName)
      XCTAssertEqual(i.verificationCode, r.verificationCode)
      XCTAssertEqual(i.transcriptHash, r.transcriptHash)
      XCTAssertTrue(i.send.encryption.constantTimeEquals(r.receive.encryption))
      XCTAssertTrue(r.send.authentication.constantTimeEquals(i.receive.authentication))
      // The session keys come from that peer's key: a frame sealed by one opens for the other.
      let frame = try FrameSealer(keys: i.send).seal(Array("hi".utf8), isFinal: true)
      XCTAssertEqual(try FrameOpener(keys: r.receive).open(frame: frame).0, Array("hi".utf8))
    }
  }

  func testAFourthInitiatorWithAnUnknownKeyFailsOnBothSides() throws {
    let initiator = try Handshake(role: .initiator, psk: .random(count: 32), localName: Array("eve".utf8))
    let responder = try Handshake(role: .responder, keys: responderKeys(), localName: Array("bob".utf8))
    let outcome = run(initiator, responder)
    XCTAssertEqual(
      detail(outcome.responderError),
      "the peer's response does not verify under any of the 3 keys (unknown key, or tampered)")
    XCTAssertEqual(outcome.initiatorError as? HandshakeError, .rejectedByPeer)
    XCTAssertNil(responder.result)
    XCTAssertNil(initiator.result)
    XCTAssertNil(responder.selectedKeyIndex)
    // The responder sent R1 and then only the abort: never R2.
    XCTAssertEqual(outcome.messages.count, 4)
    XCTAssertEqual(outcome.messages.last, HandshakeMessage.abortMessage)
  }

  func testAnInitiatorWhoseKeyVerifiesButWhoseNameDiffersFromItsEntryFails() throws {
    // carol's key, but the initiator calls itself mallory; and alice's key with carol's name.
    for (keyIndex, claimed) in [(1, "mallory"), (0, "carol@home")] {
      let initiator = try Handshake(
        role: .initiator, psk: peers[keyIndex].key, localName: Array(claimed.utf8))
      let responder = try Handshake(role: .responder, keys: responderKeys(), localName: Array("bob".utf8))
      let outcome = run(initiator, responder)
      XCTAssertEqual(
        detail(outcome.responderError),
        "the peer authenticated with the key of entry '\(peers[keyIndex].label)' but named itself '\(claimed)',"
          + " not '\(peers[keyIndex].name)'")
      // The key did verify; the name check failed after it, before R2 was sent.
      XCTAssertEqual(responder.selectedKeyIndex, keyIndex)
      XCTAssertEqual(responder.state, .failed)
      XCTAssertNil(responder.result)
      XCTAssertEqual(outcome.initiatorError as? HandshakeError, .rejectedByPeer)
      XCTAssertNil(initiator.result)
      XCTAssertFalse(outcome.messages.contains { $0.first == HandshakeMessageType.responderAuth.rawValue })
    }
  }

  /// Nothing on the wire depends on which key, or on how many keys, the responder holds: with the
  /// same random values, every message and the session are the same whatever the position of
  /// the right key among the others, and the same as with that key alone.
  func testTheResultDoesNotDependOnThePositionOfTheKey() throws {
    let responderName = Array("bob".utf8)
    func session(_ keys: [Handshake.PeerKey]) throws -> ([[UInt8]], SessionSecrets, Int?) {
      let initiator = try Handshake(
        role: .initiator, psk: peers[1].key, localName: Array(peers[1].name.utf8), randomness: Self.fixed(1))
      let responder = try Handshake(role: .responder, keys: keys, localName: responderName, randomness: Self.fixed(2))
      let outcome = run(initiator, responder)
      XCTAssertNil(outcome.responderError)
      XCTAssertNil(outcome.initiatorError)
      return (outcome.messages, try XCTUnwrap(responder.result), responder.selectedKeyIndex)
    }
    let (alone, aloneSession, _) = try session([
      Handshake.PeerKey(psk: peers[1].key, expectedName: Array(peers[1].name.utf8))
    ])
    XCTAssertEqual(alone.count, 4)
    for order in [[0, 1, 2], [1, 0, 2], [0, 2, 1], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
      let (messages, result, selected) = try session(responderKeys(order))
      XCTAssertEqual(messages, alone, "order \(order)")
      XCTAssertEqual(selected, order.firstIndex(of: 1), "order \(order)")
      XCTAssertEqual(result.transcriptHash, aloneSession.transcriptHash)
      XCTAssertEqual(result.verificationCode, aloneSession.verificationCode)
      XCTAssertTrue(result.receive.encryption.constantTimeEquals(aloneSession.receive.encryption))
    }
  }

  /// Every key is tried, not only those up to the first match: a key given twice makes the
  /// response verify twice, which the responder sees only if it went on after the first match.
  func testEveryCandidateIsComputedBeforeTheSelection() throws {
    for positions in [(0, 1), (0, 3), (2, 3)] {
      var keys = responderKeys()
      keys.append(Handshake.PeerKey(psk: SecretBytes(copying: peers[0].key.copyForTesting()), expectedName: nil))
      keys.swapAt(positions.0, 0)
      keys.swapAt(positions.1, 3)
      let initiator = try Handshake(role: .initiator, psk: peers[0].key, localName: Array("alice".utf8))
      let responder = try Handshake(role: .responder, keys: keys, localName: Array("bob".utf8))
      let outcome = run(initiator, responder)
      XCTAssertEqual(
        detail(outcome.responderError), "the peer's response verifies under 2 keys: they are the same key",
        "\(positions)")
      XCTAssertNil(responder.selectedKeyIndex)
      XCTAssertNil(responder.result)
    }
  }

  func testPeerNameOfTheInitiatorMustMatchTheResponder() throws {
    // The responder names itself robert; the initiator expects bob: it fails after R2 verified.
    let key = SecretBytes.random(count: 32)
    let initiator = try Handshake(
      role: .initiator, psk: key, localName: Array("alice".utf8), expectedPeerName: Array("bob".utf8))
    let responder = try Handshake(role: .responder, psk: key, localName: Array("robert".utf8))
    let outcome = run(initiator, responder)
    XCTAssertEqual(detail(outcome.initiatorError), "the peer named itself 'robert', not 'bob'")
    XCTAssertNil(initiator.result)
    XCTAssertEqual(initiator.state, .failed)
    // The responder had nothing left to check: it finished when it sent R2 (PROTOCOL.md §7.10).
    XCTAssertNotNil(responder.result)
    XCTAssertEqual(outcome.messages.last, HandshakeMessage.abortMessage)

    // The same name: both succeed.
    let again = try Handshake(
      role: .initiator, psk: key, localName: Array("alice".utf8), expectedPeerName: Array("robert".utf8))
    let other = try Handshake(role: .responder, psk: key, localName: Array("robert".utf8))
    let ok = run(again, other)
    XCTAssertNil(ok.initiatorError)
    XCTAssertNotNil(again.result)
  }

  func testPeerNameOfALoneKeyResponderIsCheckedBeforeR2() throws {
    let key = SecretBytes.random(count: 32)
    let initiator = try Handshake(role: .initiator, psk: key, localName: Array("mallory".utf8))
    let responder = try Handshake(
      role: .responder, psk: key, localName: Array("bob".utf8), expectedPeerName: Array("alice".utf8))
    let outcome = run(initiator, responder)
    XCTAssertEqual(detail(outcome.responderError), "the peer named itself 'mallory', not 'alice'")
    XCTAssertEqual(outcome.initiatorError as? HandshakeError, .rejectedByPeer)
    XCTAssertNil(responder.result)
    XCTAssertNil(initiator.result)
  }

  // MARK: - Padding: a responder with a peers file computes PeersFile.maxEntries candidates

  /// `count` distinct keys, held by `peer0`, `peer1`, ...
  private func manyKeys(_ count: Int) -> [(key: SecretBytes, name: String)] {
    (0..<count).map { (SecretBytes.random(count: 32), "peer\($0)") }
  }

  private func peerKeys(_ keys: [(key: SecretBytes, name: String)]) -> [Handshake.PeerKey] {
    keys.map { Handshake.PeerKey(psk: $0.key, expectedName: Array($0.name.utf8), label: "entry '\($0.name)'") }
  }

  /// §3.9: padded, the responder computes and compares exactly PeersFile.maxEntries responses
  /// at I2, whether it holds 1 key or 64, whether a key verifies or none does; unpadded (-k,
  /// --continue-from), as many as it holds keys.
  func testThePaddedResponderComputesTheSameNumberOfCandidatesWhateverTheEntries() throws {
    XCTAssertEqual(PeersFile.maxEntries, 64)
    for count in [1, 2, 16, 63, 64] {
      let keys = manyKeys(count)
      for initiatorKey in [keys[count - 1].key, SecretBytes.random(count: 32)] {
        let known = initiatorKey === keys[count - 1].key
        let initiator = try Handshake(
          role: .initiator, psk: initiatorKey, localName: Array(keys[count - 1].name.utf8))
        let responder = try Handshake(
          role: .responder, keys: peerKeys(keys), localName: Array("bob".utf8), paddedTo: PeersFile.maxEntries)
        XCTAssertEqual(responder.candidateResponseKeys.count, PeersFile.maxEntries, "\(count) keys")
        XCTAssertEqual(responder.paddingCount, PeersFile.maxEntries - count, "\(count) keys")
        let outcome = run(initiator, responder)
        XCTAssertEqual(responder.candidateResponsesComputed, PeersFile.maxEntries, "\(count) keys, known \(known)")
        if known {
          XCTAssertNil(outcome.responderError, "\(count) keys")
          XCTAssertEqual(responder.selectedKeyIndex, count - 1)
        } else {
          // The message counts the keys, not the padding.
          XCTAssertEqual(
            detail(outcome.responderError),
            count == 1
              ? "the peer's response does not verify (different key, or tampered)"
              : "the peer's response does not verify under any of the \(count) keys (unknown key, or tampered)")
          XCTAssertNil(responder.selectedKeyIndex)
        }
      }
    }
    // Unpadded: one candidate per key.
    for count in [1, 2, 3] {
      let keys = manyKeys(count)
      let initiator = try Handshake(role: .initiator, psk: keys[0].key, localName: Array(keys[0].name.utf8))
      let responder = try Handshake(role: .responder, keys: peerKeys(keys), localName: Array("bob".utf8))
      XCTAssertEqual(responder.paddingCount, 0)
      XCTAssertNil(run(initiator, responder).responderError)
      XCTAssertEqual(responder.candidateResponsesComputed, count)
    }
  }

  /// The padding keys are fresh random keys: distinct from each other, from the real keys, and
  /// from one responder to the next; the real keys' candidates come first, in order.
  func testPaddingKeysAreDistinctRandomKeys() throws {
    let keys = manyKeys(3)
    func candidates() throws -> [[UInt8]] {
      let responder = try Handshake(
        role: .responder, keys: peerKeys(keys), localName: Array("bob".utf8), paddedTo: PeersFile.maxEntries)
      return responder.candidateResponseKeys.map { $0.copyForTesting() }
    }
    let first = try candidates()
    let second = try candidates()
    XCTAssertEqual(first.count, 64)
    XCTAssertEqual(Set(first).count, 64, "64 different candidates")
    for (index, key) in keys.enumerated() {
      let expected = try KeySchedule.responseKey(psk: key.key, role: .initiator).copyForTesting()
      XCTAssertEqual(first[index], expected, "key \(index) in its place")
      XCTAssertEqual(second[index], expected)
    }
    XCTAssertTrue(Set(first[3...]).isDisjoint(with: Set(second[3...])), "fresh padding for each responder")
    XCTAssertFalse(first[3...].contains([UInt8](repeating: 0, count: 32)))
  }

  /// With padding, a real key is selected in the first, a middle and the last position, and
  /// nothing on the wire changes: the same messages and session as a responder holding that key
  /// alone, with the same random values.
  func testRealKeysAreSelectedInEveryPositionWithPadding() throws {
    let keys = manyKeys(16)
    for position in [0, 7, 15] {
      func session(_ responderKeys: [Handshake.PeerKey], paddedTo: Int?) throws -> ([[UInt8]], SessionSecrets, Int?) {
        let initiator = try Handshake(
          role: .initiator, psk: keys[position].key, localName: Array(keys[position].name.utf8),
          randomness: Self.fixed(3))
        let responder = try Handshake(
          role: .responder, keys: responderKeys, localName: Array("bob".utf8), paddedTo: paddedTo,
          randomness: Self.fixed(4))
        let outcome = run(initiator, responder)
        XCTAssertNil(outcome.responderError, "position \(position)")
        XCTAssertNil(outcome.initiatorError, "position \(position)")
        XCTAssertEqual(
          try XCTUnwrap(initiator.result).verificationCode, try XCTUnwrap(responder.result).verificationCode)
        return (outcome.messages, try XCTUnwrap(responder.result), responder.selectedKeyIndex)
      }
      let (padded, paddedSession, selected) = try session(peerKeys(keys), paddedTo: PeersFile.maxEntries)
      let (alone, aloneSession, _) = try session([peerKeys(keys)[position]], paddedTo: nil)
      XCTAssertEqual(selected, position)
      XCTAssertEqual(padded, alone, "position \(position)")
      XCTAssertEqual(paddedSession.peerName, Array(keys[position].name.utf8))
      XCTAssertEqual(paddedSession.transcriptHash, aloneSession.transcriptHash)
      XCTAssertTrue(paddedSession.receive.encryption.constantTimeEquals(aloneSession.receive.encryption))
      XCTAssertTrue(paddedSession.send.authentication.constantTimeEquals(aloneSession.send.authentication))
    }
  }

  /// A padding key is never selected, even if the initiator's response verified under it (it
  /// cannot: the padding keys are random and kept by nobody; here the test gives the responder
  /// the initiator's key as padding to show the mask).
  func testAPaddingKeyThatVerifiesIsNeverSelected() throws {
    let keys = manyKeys(2)
    let stranger = SecretBytes.random(count: 32)
    for padding in [[stranger], [.random(count: 32), stranger, .random(count: 32)]] {
      let initiator = try Handshake(role: .initiator, psk: stranger, localName: Array("eve".utf8))
      let responder = try Handshake(
        role: .responder, keys: peerKeys(keys), localName: Array("bob".utf8), padding: padding,
        randomness: .fresh())
      let outcome = run(initiator, responder)
      XCTAssertEqual(responder.candidateResponsesComputed, 2 + padding.count)
      XCTAssertEqual(
        detail(outcome.responderError),
        "the peer's response does not verify under any of the 2 keys (unknown key, or tampered)")
      XCTAssertNil(responder.selectedKeyIndex)
      XCTAssertNil(responder.result)
      XCTAssertEqual(outcome.initiatorError as? HandshakeError, .rejectedByPeer)
      XCTAssertEqual(outcome.messages.last, HandshakeMessage.abortMessage)
    }
    // Beside a real key that verifies, it does not count as a second match either.
    let initiator = try Handshake(role: .initiator, psk: keys[1].key, localName: Array(keys[1].name.utf8))
    let responder = try Handshake(
      role: .responder, keys: peerKeys(keys), localName: Array("bob".utf8),
      padding: [SecretBytes(copying: keys[1].key.copyForTesting())], randomness: .fresh())
    XCTAssertNil(run(initiator, responder).responderError)
    XCTAssertEqual(responder.selectedKeyIndex, 1)
  }

  // MARK: - The peers file parser

  private func parse(_ text: String, location: String = "/home/u/.config/securechat/peers") throws
    -> [PeersFile.Entry]
  {
    try PeersFile.parse(Array(text.utf8), location: location)
  }

  private func assertRefused(
    _ text: String, _ kind: PeersFileError.Kind, line: Int, _ words: String? = nil, file: StaticString = #filePath,
    lineNumber: UInt = #line
  ) {
    XCTAssertThrowsError(try parse(text), file: file, line: lineNumber) { error in
      guard let error = error as? PeersFileError else { return XCTFail("\(error)", file: file, line: lineNumber) }
      XCTAssertEqual(error.kind, kind, error.description, file: file, line: lineNumber)
      XCTAssertEqual(error.line, line, error.description, file: file, line: lineNumber)
      if let words {
        XCTAssertTrue(error.description.contains(words), error.description, file: file, line: lineNumber)
      }
    }
  }

  func testParsesEntriesCommentsBlankLinesAndAddresses() throws {
    let text = """
      securechat-peers-v1
      # PEER HOST PORT KEYFILE NAME

      bob chat.example.org 7000 keys/bob.key bob
      \t  carol\t-\t-\t/etc/securechat/carol.key   carol@home  \r
         # an indented comment
      dave [2001:db8::1] 65535 ../dave.key Dave.Smith+chat
      e1 10.0.0.1 1 ./e1.key e_1
      """
    let entries = try parse(text)
    XCTAssertEqual(
      entries,
      [
        PeersFile.Entry(
          line: 4, peer: "bob", host: "chat.example.org", port: 7000, keyFile: "keys/bob.key",
          keyPath: "/home/u/.config/securechat/keys/bob.key", name: "bob"),
        PeersFile.Entry(
          line: 5, peer: "carol", host: nil, port: nil, keyFile: "/etc/securechat/carol.key",
          keyPath: "/etc/securechat/carol.key", name: "carol@home"),
        PeersFile.Entry(
          line: 7, peer: "dave", host: "[2001:db8::1]", port: 65535, keyFile: "../dave.key",
          keyPath: "/home/u/.config/securechat/../dave.key", name: "Dave.Smith+chat"),
        PeersFile.Entry(
          line: 8, peer: "e1", host: "10.0.0.1", port: 1, keyFile: "./e1.key",
          keyPath: "/home/u/.config/securechat/./e1.key", name: "e_1"),
      ])
    // The header alone is an empty address book; CRLF line ends are accepted.
    XCTAssertEqual(try parse("securechat-peers-v1"), [])
    XCTAssertEqual(try parse("securechat-peers-v1\r\nbob - - b.key bob\r\n").map(\.name), ["bob"])
  }

  func testRelativeKeyFilesAreResolvedAgainstThePeersFilesDirectory() throws {
    let line = "securechat-peers-v1\nbob - - bob.key bob\ncarol - - /k/carol.key carol\n"
    for (location, expected) in [
      ("/home/u/.config/securechat/peers", "/home/u/.config/securechat/bob.key"),
      ("peers", "./bob.key"), ("/peers", "/bob.key"), ("conf/peers", "conf/bob.key"),
      ("/dev/fd/3", "/dev/fd/bob.key"),
    ] {
      let entries = try parse(line, location: location)
      XCTAssertEqual(entries[0].keyPath, expected, location)
      XCTAssertEqual(entries[1].keyPath, "/k/carol.key", location)
    }
  }

  func testTheFirstLineMustBeTheHeader() {
    assertRefused("", .notAPeersFile, line: 1)
    assertRefused("\n", .notAPeersFile, line: 1)
    assertRefused("# peers\nsecurechat-peers-v1\n", .notAPeersFile, line: 1)
    assertRefused(" securechat-peers-v1\n", .notAPeersFile, line: 1)
    assertRefused("securechat-peers-v1 \n", .notAPeersFile, line: 1)
    assertRefused("bob - - b.key bob\n", .notAPeersFile, line: 1)
    assertRefused("\u{feff}securechat-peers-v1\n", .notAPeersFile, line: 1)
    assertRefused("securechat-peers-v2\n", .unsupported, line: 1, "version 'securechat-peers-v2'")
    assertRefused("securechat-peers-v10\n", .unsupported, line: 1)
    assertRefused("securechat-key-v1 psk 00\n", .notAPeersFile, line: 1)
  }

  func testEntryFields() {
    let h = "securechat-peers-v1\n# c\n"
    assertRefused(h + "bob - - bob.key\n", .fieldCount, line: 3, "4 fields where 5 are needed")
    assertRefused(h + "bob - - bob.key bob extra\n", .fieldCount, line: 3, "6 fields")
    assertRefused(h + "bob - - bob.key bob # a comment\n", .fieldCount, line: 3)
    assertRefused(h + "bob\n", .fieldCount, line: 3, "1 field where")
    // Names: the handshake's charset and length.
    assertRefused(h + "bob - - bob.key b/ob\n", .badName, line: 3, "the name 'b/ob' is not valid")
    assertRefused(h + "bob - - bob.key \(String(repeating: "n", count: 65))\n", .badName, line: 3)
    XCTAssertNoThrow(try parse(h + "bob - - bob.key \(String(repeating: "n", count: 64))\n"))
    assertRefused(h + "bob - - bob.key b\u{e9}b\n", .badName, line: 3)
    // Labels: the same, not beginning with '-'.
    assertRefused(h + "-bob - - bob.key bob\n", .badPeer, line: 3)
    assertRefused(h + "b:ob - - bob.key bob\n", .badPeer, line: 3)
    assertRefused(h + "\(String(repeating: "p", count: 65)) - - bob.key bob\n", .badPeer, line: 3)
    // Hosts: nothing socat could read as an option or another address.
    for host in ["host,fork", "-host", "a:b", "[::1", "[]", "[::g]", "h/o", String(repeating: "h", count: 254)] {
      assertRefused(h + "bob \(host) 7000 bob.key bob\n", .badHost, line: 3)
    }
    XCTAssertNoThrow(try parse(h + "bob \(String(repeating: "h", count: 253)) 7000 bob.key bob\n"))
    for port in ["0", "65536", "007", "7e3", "+7", "99999", "123456"] {
      assertRefused(h + "bob host \(port) bob.key bob\n", .badPort, line: 3, "the port '\(port)'")
    }
    assertRefused(h + "bob - 7000 bob.key bob\n", .badAddress, line: 3)
    assertRefused(h + "bob host - bob.key bob\n", .badAddress, line: 3)
    assertRefused(h + "bob - - ~/bob.key bob\n", .badKeyFile, line: 3, "no ~ expansion")
    assertRefused(h + "bob - - - bob\n", .badKeyFile, line: 3)
    assertRefused(h + "bob - - /\(String(repeating: "k", count: 4095)) bob\n", .badKeyFile, line: 3)
  }

  func testDuplicatesAreRefused() {
    let h = "securechat-peers-v1\nbob - - bob.key bob\n\n"
    assertRefused(h + "bob host 1 other.key robert\n", .duplicatePeer, line: 4, "already defined on line 2")
    assertRefused(h + "robert - - bob.key robert\n", .duplicateKeyFile, line: 4, "already the key of peer 'bob'")
    // The same file, once relative and once absolute.
    assertRefused(
      h + "robert - - /home/u/.config/securechat/bob.key robert\n", .duplicateKeyFile, line: 4)
    // Labels are case-sensitive, like names; two entries may expect the same NAME.
    XCTAssertEqual(try parse(h + "Bob - - bob2.key bob\n").count, 2)
  }

  /// FORMATS.md §10.2: at most PeersFile.maxEntries entries; comments and blank lines do not
  /// count; the entry after the last allowed one is refused at its line, after its own checks.
  func testAtMostMaxEntries() throws {
    func entries(_ count: Int) -> String {
      (1...count).map { "p\($0) - - k\($0).key p\($0)\n" }.joined()
    }
    let h = "securechat-peers-v1\n# many\n\n"
    XCTAssertEqual(try parse(h + entries(64) + "# the last\n").count, 64)
    assertRefused(h + entries(65), .tooManyEntries, line: 68, "entry 65: a peers file holds at most 64 entries")
    assertRefused(h + entries(64) + "\n# more\n" + entries(1), .duplicatePeer, line: 70)
    assertRefused(h + entries(64) + "x - - y.key bad/name\n", .badName, line: 68)
    assertRefused(h + entries(70), .tooManyEntries, line: 68)
  }

  func testBytesThatCouldReachATerminalAreRefused() {
    let h = "securechat-peers-v1\n"
    assertRefused(h + "bob - - bob\u{1b}[2J.key bob\n", .badCharacter, line: 2, "control character 0x1b")
    assertRefused(h + "# \u{7f}\n", .badCharacter, line: 2)
    assertRefused(h + "bob - - bob\r.key bob\n", .badCharacter, line: 2)
    XCTAssertThrowsError(try PeersFile.parse(Array(h.utf8) + [0x23, 0xff, 0x0a], location: "p")) {
      XCTAssertEqual(($0 as? PeersFileError)?.kind, .badCharacter)
      XCTAssertEqual(($0 as? PeersFileError)?.line, 2)
    }
    // UTF-8 in a key file path or a comment is fine.
    XCTAssertEqual(try parse(h + "# caf\u{e9}\nbob - - cl\u{e9}s/bob.key bob\n")[0].keyFile, "cl\u{e9}s/bob.key")
    // The size limit.
    let big = h + "#" + String(repeating: "x", count: PeersFile.maxSize - h.utf8.count - 1)
    XCTAssertEqual(big.utf8.count, PeersFile.maxSize)
    XCTAssertNoThrow(try parse(big))
    assertRefused(big + "x", .tooLarge, line: 0)
  }

  // MARK: - Loading: permissions and keys

  private var directory = ""

  override func setUpWithError() throws {
    directory = NSTemporaryDirectory() + "sc-peers-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(atPath: directory)
  }

  private func writeFile(_ name: String, _ contents: [UInt8], mode: Int = 0o600) -> String {
    let path = directory + "/" + name
    XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(contents)))
    XCTAssertEqual(chmod(path, mode_t(mode)), 0)
    return path
  }

  private func writeKey(_ name: String, _ key: SecretBytes) {
    _ = writeFile(name, KeyFile.serialize(KeyFile.Key(type: .psk, secret: key)).copyForTesting())
  }

  func testLoaderRefusesAPeersFileReadableByOthers() throws {
    let path = writeFile("peers", Array("securechat-peers-v1\nbob - - bob.key bob\n".utf8))
    XCTAssertEqual(try PeersFileLoader.load(path).map(\.peer), ["bob"])
    for mode in [0o640, 0o604, 0o644, 0o660] {
      XCTAssertEqual(chmod(path, mode_t(mode)), 0)
      XCTAssertThrowsError(try PeersFileLoader.load(path)) {
        let error = $0 as? ToolError
        XCTAssertEqual(error?.status, .operationalFailure)
        XCTAssertEqual(
          error?.message, "peers file \(path) is accessible by others (mode \(String(mode, radix: 8)))")
        XCTAssertEqual(error?.hints, ["restrict it with: chmod 600 \(path)"])
      }
    }
  }

  func testLoaderReportsParseErrorsWithPathAndLine() throws {
    let path = writeFile("peers", Array("securechat-peers-v1\nbob - - bob.key\n".utf8))
    XCTAssertThrowsError(try PeersFileLoader.load(path)) {
      XCTAssertEqual(
        ($0 as? ToolError)?.message,
        "peers file \(path): line 2: 4 fields where 5 are needed: PEER HOST PORT KEYFILE NAME")
      XCTAssertEqual(($0 as? ToolError)?.status, .operationalFailure)
    }
  }

  func testLoaderLoadsEachKeyAndRefusesTwoEntriesWithTheSameKey() throws {
    for (index, peer) in peers.enumerated() { writeKey("k\(index).key", peer.key) }
    let path = writeFile(
      "peers", Array("securechat-peers-v1\nal - - k0.key alice\ncarol - - k1.key carol\ndave - - k2.key dave\n".utf8))
    let entries = try PeersFileLoader.load(path)
    let keys = try PeersFileLoader.loadKeys(entries, peersFile: path)
    XCTAssertEqual(keys.count, 3)
    for (index, key) in keys.enumerated() { XCTAssertTrue(key.secret.constantTimeEquals(peers[index].key)) }

    // A copy of carol's key under another name: the key would not tell dave from carol.
    writeKey("copy.key", peers[1].key)
    let copied = writeFile(
      "peers2", Array("securechat-peers-v1\nal - - k0.key alice\ncarol - - k1.key carol\ndave - - copy.key dave\n".utf8)
    )
    XCTAssertThrowsError(try PeersFileLoader.loadKeys(try PeersFileLoader.load(copied), peersFile: copied)) {
      XCTAssertEqual(
        ($0 as? ToolError)?.message,
        "peers file \(copied): peers 'carol' (line 3) and 'dave' (line 4) have the same key, which would not tell them apart"
      )
    }
    // A missing or too open key file names the entry.
    let missing = writeFile("peers3", Array("securechat-peers-v1\nal - - k0.key alice\nzed - - nope.key zed\n".utf8))
    XCTAssertThrowsError(try PeersFileLoader.loadKeys(try PeersFileLoader.load(missing), peersFile: missing)) {
      let error = $0 as? ToolError
      XCTAssertTrue(error?.message.hasPrefix("cannot read key file \(directory)/nope.key") == true, "\($0)")
      XCTAssertEqual(error?.hints.first, "the key file of peer 'zed' (\(missing) line 3)")
    }
    XCTAssertEqual(chmod(directory + "/k2.key", 0o644), 0)
    XCTAssertThrowsError(try PeersFileLoader.loadKeys(entries, peersFile: path)) {
      XCTAssertTrue(($0 as? ToolError)?.message.contains("is accessible by others") == true, "\($0)")
    }
  }

  func testDefaultLocation() {
    XCTAssertEqual(
      PeersFileLoader.defaultPath(environment: ["HOME": "/home/u"]), "/home/u/.config/securechat/peers")
    XCTAssertEqual(
      PeersFileLoader.defaultPath(environment: ["HOME": "/home/u", "XDG_CONFIG_HOME": "/cfg"]),
      "/cfg/securechat/peers")
    // A relative XDG_CONFIG_HOME is ignored (XDG Base Directory specification).
    XCTAssertEqual(
      PeersFileLoader.defaultPath(environment: ["HOME": "/home/u", "XDG_CONFIG_HOME": "cfg"]),
      "/home/u/.config/securechat/peers")
    XCTAssertNil(PeersFileLoader.defaultPath(environment: [:]))
  }
}
