import SecureChatCrypto
import SecureChatProtocol

// Targets for the parsers that came with identities (FORMATS.md §12, PROTOCOL.md §11).

extension FuzzTarget {
  /// Public key text (FORMATS.md §12.1): what parses encodes back to the same text, in lower case.
  static let publicKey = FuzzTarget(
    name: "public-key",
    summary: "PublicKey(text:) (Bech32m, checksum, low order), then text and parse again",
    run: { data in
      let text = String(decoding: data, as: UTF8.self)
      let key: PublicKey
      do {
        key = try PublicKey(text: text)
      } catch {
        return outcome(error)
      }
      require(key.text == text.lowercased(), "a key does not encode back to its text")
      require(!PublicKey.hasLowOrderForFuzzing(key.bytes), "a key of low order was accepted")
      return "success"
    },
    seeds: { _ in
      let key = try! PublicKey(identitySecret: SecretBytes(copying: Array(0..<32)))
      var typo = Array(key.text.utf8)
      typo[20] = typo[20] == UInt8(ascii: "q") ? UInt8(ascii: "p") : UInt8(ascii: "q")
      return [
        ("example", Array(key.text.utf8)), ("upper", Array(key.text.uppercased().utf8)), ("typo", typo),
        ("cut", Array(key.text.utf8.dropLast(2))),
        ("low-order", Array(Bech32m.encode(prefix: PublicKey.prefix, data: [UInt8](repeating: 0, count: 32)).utf8)),
      ]
    })

  /// A known peers file (FORMATS.md §12.3): names unique and valid; written out again, the same.
  static let knownPeers = FuzzTarget(
    name: "known-peers",
    summary: "KnownPeers.parse, then the entries written out and parsed again",
    run: { data in
      let entries: [KnownPeers.Entry]
      do {
        entries = try KnownPeers.parse(data)
      } catch {
        return "malformed"
      }
      require(Set(entries.map(\.name)).count == entries.count, "a name twice")
      require(entries.allSatisfy { SessionName.isValid(Array($0.name.utf8)) }, "an invalid name")
      require(zip(entries, entries.dropFirst()).allSatisfy { $0.line < $1.line }, "lines out of order")
      let text = entries.map { KnownPeers.line(name: $0.name, key: $0.key) }.joined()
      let again = try! KnownPeers.parse(Array(text.utf8))
      require(again.map(\.name) == entries.map(\.name) && again.map(\.key) == entries.map(\.key), "not the same")
      return "success"
    },
    seeds: { _ in
      let key = try! PublicKey(identitySecret: SecretBytes(copying: Array(0..<32)))
      return [
        ("two", Array("# peers\nbob \(key.text)\n\n  carol\t\(key.text.uppercased())  \r\n".utf8)),
        ("twice", Array("bob \(key.text)\nbob \(key.text)\n".utf8)),
        ("no-key", Array("bob\n".utf8)),
      ]
    })

  /// The version 2 handshake (PROTOCOL.md §11): an initiator that has answered the fixed R1 gets
  /// the fuzzer's R2, or a responder that has answered the fixed I1 and I2 gets its I3.
  static let handshakeV2 = FuzzTarget(
    name: "handshake-v2",
    summary: "control byte (R2 to an initiator, or I3 to a responder), then the message: Handshake.receive, version 2",
    run: { data in
      let (control, message) = splitControl(data)
      let toInitiator = control & 1 == 0
      let fixed = IdentityFixtures.shared
      let machine = toInitiator ? fixed.initiatorAwaitingR2() : fixed.responderAwaitingI3()
      var headerError: HandshakeError?
      if message.count >= HandshakeMessage.headerSize {
        do {
          _ = try machine.bodyLength(header: Array(message.prefix(HandshakeMessage.headerSize)))
        } catch {
          headerError = error as? HandshakeError
        }
      }
      do {
        let reply = try machine.receive(message)
        require(headerError == nil, "the state machine accepted a message whose header is refused")
        if toInitiator {
          require(reply?.first == HandshakeMessageType.initiatorIdentity.rawValue, "R2 accepted without an I3")
          require(machine.peerStaticKey == fixed.bob, "R2 accepted with a key other than the pinned one")
        } else {
          require(reply?.first == HandshakeMessageType.responderConfirmation.rawValue, "I3 accepted, no R3")
          require(machine.result != nil && machine.peerStaticKey == fixed.alice, "I3 accepted, no keys or another key")
        }
        return "success"
      } catch {
        require(machine.state == .failed && machine.result == nil, "a failure left the machine \(machine.state)")
        if let headerError {
          require(error as? HandshakeError == headerError, "\(error) but the header: \(headerError)")
        }
        return outcome(error)
      }
    },
    seeds: { vectors in
      let fixed = IdentityFixtures.shared
      var seeds: [Seed] = [("good-r2", [0] + fixed.messages[3]), ("good-i3", [1] + fixed.messages[4])]
      for (name, bytes) in vectors.handshakeV2Messages() { seeds.append((name, bytes)) }
      return seeds
    })
}

extension PublicKey {
  /// The same check PublicKey makes, through X25519 itself: a key of low order gives all zeros.
  static func hasLowOrderForFuzzing(_ bytes: [UInt8]) -> Bool {
    (try? X25519PrivateKey().sharedSecret(with: bytes)) == nil
  }
}

/// Alice and Bob with fixed identities and randomness (those of docs/vectors/handshake/good-v2-*).
final class IdentityFixtures: @unchecked Sendable {  // one thread: libFuzzer runs inputs one at a time
  static let shared = IdentityFixtures()
  let aliceSecret = (0..<32).map { UInt8(truncatingIfNeeded: 0x30 &+ $0 &* 5) }
  let bobSecret = (0..<32).map { UInt8(truncatingIfNeeded: 0x71 &+ $0 &* 11) }
  let alice: PublicKey
  let bob: PublicKey
  /// The six messages of the good handshake.
  private(set) var messages: [[UInt8]] = []

  private init() {
    alice = try! PublicKey(identitySecret: SecretBytes(copying: aliceSecret))
    bob = try! PublicKey(identitySecret: SecretBytes(copying: bobSecret))
    let initiator = initiatorMachine()
    let responder = responderMachine()
    var next = initiator.start()
    _ = responder.start()
    var receiver = responder
    var other = initiator
    while let message = next {
      messages.append(message)
      next = try! receiver.receive(message)
      swap(&receiver, &other)
    }
    precondition(messages.count == 6)
  }

  private func randomness(_ seed: Int) -> Handshake.Randomness {
    .init(
      ephemeralSecret: SecretBytes(copying: (0..<32).map { UInt8(truncatingIfNeeded: seed &* 31 &+ $0 &* 7) }),
      challenge: (0..<32).map { UInt8(truncatingIfNeeded: seed &+ 0x50 &+ $0) },
      nameFrameIV: (0..<16).map { UInt8(truncatingIfNeeded: seed &+ 0xe0 &+ $0) })
  }

  private func initiatorMachine() -> Handshake {
    let pinned = bob
    return try! Handshake(
      role: .initiator, identity: SecretBytes(copying: aliceSecret), localName: Array("alice".utf8),
      acceptPeerKey: { key, _ in if key != pinned { throw HandshakeError.authenticationFailed("pinned") } },
      randomness: randomness(1))
  }

  private func responderMachine() -> Handshake {
    let pinned = alice
    return try! Handshake(
      role: .responder, identity: SecretBytes(copying: bobSecret), localName: Array("bob".utf8),
      acceptPeerKey: { key, _ in if key != pinned { throw HandshakeError.authenticationFailed("pinned") } },
      randomness: randomness(2))
  }

  func initiatorAwaitingR2() -> Handshake {
    let machine = initiatorMachine()
    _ = machine.start()
    _ = try! machine.receive(messages[1])
    return machine
  }

  func responderAwaitingI3() -> Handshake {
    let machine = responderMachine()
    _ = machine.start()
    _ = try! machine.receive(messages[0])
    _ = try! machine.receive(messages[2])
    return machine
  }
}
