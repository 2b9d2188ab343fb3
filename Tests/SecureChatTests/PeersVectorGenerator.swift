import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// The vectors of a responder with several keys (PROTOCOL.md §8.4, in docs/vectors/handshake,
/// `kind: handshake-responder-keys`) and of the peers file (FORMATS.md §10.5,
/// docs/vectors/peers-file). VectorGenerator.testWriteVectors writes them with the others; this
/// test writes only these (SC_WRITE_PEERS_VECTORS=1), leaving every other vector as it is.
final class PeersVectorGenerator: XCTestCase {
  func testWritePeersVectors() throws {
    try XCTSkipUnless(
      ProcessInfo.processInfo.environment["SC_WRITE_PEERS_VECTORS"] == "1", "set SC_WRITE_PEERS_VECTORS=1")
    let root = TestVector.directory
    func write(_ directory: String, _ name: String, _ fields: [(String, String)], _ data: [UInt8]) throws {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      try TestVector.render(fields: fields, data: data).write(
        toFile: "\(directory)/\(name).vector", atomically: true, encoding: .utf8)
    }
    for old in try FileManager.default.contentsOfDirectory(atPath: root + "/handshake")
    where old.hasPrefix(ResponderKeysVectors.prefix) || old.hasPrefix("good-" + ResponderKeysVectors.prefix) {
      try FileManager.default.removeItem(atPath: root + "/handshake/" + old)
    }
    try? FileManager.default.removeItem(atPath: root + "/peers-file")
    try PeersVectors.writeResponderKeysVectors(root + "/handshake", write: write)
    try PeersVectors.writePeersFileVectors(root + "/peers-file", write: write)
  }
}

/// The fixed inputs of the responder-keys vectors: three keys with the names their holders must
/// give, and the random values of each side.
enum ResponderKeysVectors {
  static let prefix = "responder-keys-"
  static func key(_ index: Int) -> [UInt8] {
    (0..<32).map { UInt8(truncatingIfNeeded: 0x31 &* (index + 1) &+ $0 &* 5) }
  }
  static let names = ["alice", "carol", "dave"]
  static func randomness(_ seed: UInt8) -> (secret: [UInt8], challenge: [UInt8], iv: [UInt8]) {
    (
      (0..<32).map { UInt8(truncatingIfNeeded: Int(seed) &* 29 &+ $0 &* 11) },
      (0..<32).map { UInt8(truncatingIfNeeded: Int(seed) &+ 0x70 &+ $0) },
      (0..<16).map { UInt8(truncatingIfNeeded: Int(seed) &+ 0xc0 &+ $0) }
    )
  }
  static let initiatorRandomness = randomness(7)
  static let responderRandomness = randomness(8)

  static func machine(_ r: (secret: [UInt8], challenge: [UInt8], iv: [UInt8])) -> Handshake.Randomness {
    .init(ephemeralSecret: SecretBytes(copying: r.secret), challenge: r.challenge, nameFrameIV: r.iv)
  }
}

/// Writes the vectors through `write` (VectorGenerator's, or the one above).
enum PeersVectors {
  typealias Writer = (_ directory: String, _ name: String, _ fields: [(String, String)], _ data: [UInt8]) throws -> Void

  /// PROTOCOL.md §8.4: what a responder holding `keys` does with the I1 and I2 of an initiator.
  static func writeResponderKeysVectors(_ directory: String, write: Writer) throws {
    typealias V = ResponderKeysVectors
    let keys = (0..<3).map(V.key)
    /// The I1 and I2 of an initiator holding `key`, named `name`, against the responder's R1.
    func initiatorMessages(key: [UInt8], name: String) throws -> (i1: [UInt8], i2: [UInt8], r1: [UInt8]) {
      let initiator = try Handshake(
        role: .initiator, psk: SecretBytes(copying: key), localName: Array(name.utf8),
        randomness: V.machine(V.initiatorRandomness))
      // R1 depends on no key: a responder with any key sends the same one.
      let responder = try Handshake(
        role: .responder, psk: .random(count: 32), localName: Array("bob".utf8),
        randomness: V.machine(V.responderRandomness))
      let i1 = initiator.start()!
      _ = responder.start()
      let r1 = try responder.receive(i1)!
      return (i1, try initiator.receive(r1)!, r1)
    }
    func vector(
      _ name: String, _ expect: String, responderKeys: [[UInt8]], initiatorKey: [UInt8], initiatorName: String,
      tamper: ([UInt8]) -> [UInt8] = { $0 }
    ) throws {
      let (i1, goodI2, r1) = try initiatorMessages(key: initiatorKey, name: initiatorName)
      let i2 = tamper(goodI2)
      var fields: [(String, String)] = [
        ("kind", "handshake-responder-keys"), ("expect", expect), ("keys", "\(responderKeys.count)"),
      ]
      for (index, key) in responderKeys.enumerated() {
        fields += [("psk-\(index + 1)", key.hexString), ("name-\(index + 1)", V.names[min(index, 2)])]
      }
      fields += [
        ("local-name", "bob"), ("ephemeral-secret", V.responderRandomness.secret.hexString),
        ("challenge", V.responderRandomness.challenge.hexString), ("name-iv", V.responderRandomness.iv.hexString),
        ("receive-1", i1.hexString), ("send-1", r1.hexString), ("receive-2", i2.hexString),
      ]
      // The state machine gives the rest; VectorTests checks it against a single-key responder.
      let responder = try Handshake(
        role: .responder,
        keys: responderKeys.enumerated().map {
          Handshake.PeerKey(psk: SecretBytes(copying: $1), expectedName: Array(V.names[min($0, 2)].utf8))
        }, localName: Array("bob".utf8), randomness: V.machine(V.responderRandomness))
      _ = responder.start()
      XCTAssertEqual(try responder.receive(i1), r1)
      var data: [UInt8] = []
      do {
        let r2 = try responder.receive(i2)!
        let result = responder.result!
        XCTAssertEqual(expect, "success", name)
        fields += [
          ("send-2", r2.hexString), ("selected-key", "\(responder.selectedKeyIndex! + 1)"),
          ("peer-name", String(decoding: result.peerName, as: UTF8.self)),
          ("final-transcript-hash", result.transcriptHash.hexString), ("verification-code", result.verificationCode),
        ]
        data = i1 + r1 + i2 + r2
      } catch {
        XCTAssertEqual("error " + HandshakeVectors.errorClass(error), expect, name)
      }
      try write(directory, name, fields, data)
    }
    for (index, position) in ["first", "middle", "last"].enumerated() {
      try vector(
        "good-\(V.prefix)\(position)", "success", responderKeys: keys, initiatorKey: keys[index],
        initiatorName: V.names[index])
    }
    try vector(
      "\(V.prefix)unknown-key", "error authentication", responderKeys: keys, initiatorKey: V.key(3),
      initiatorName: "eve")
    try vector(
      "\(V.prefix)name-not-entry", "error authentication", responderKeys: keys, initiatorKey: keys[1],
      initiatorName: "mallory")
    try vector(
      "\(V.prefix)name-of-other-entry", "error authentication", responderKeys: keys, initiatorKey: keys[1],
      initiatorName: "alice")
    try vector(
      "\(V.prefix)same-key-twice", "error authentication", responderKeys: [keys[0], keys[1], keys[1]],
      initiatorKey: keys[1], initiatorName: "carol")
    try vector(
      "\(V.prefix)response-flipped", "error authentication", responderKeys: keys, initiatorKey: keys[1],
      initiatorName: "carol"
    ) {
      var m = $0
      m[m.count - 1] ^= 0x01
      return m
    }
  }

  /// FORMATS.md §10.5.
  static func writePeersFileVectors(_ directory: String, write: Writer) throws {
    let location = "/home/u/.config/securechat/peers"
    func good(_ name: String, _ text: String, location: String = location) throws {
      let entries = try PeersFile.parse(Array(text.utf8), location: location)
      var fields: [(String, String)] = [
        ("kind", "peers-file"), ("expect", "success"), ("location", location), ("entries", "\(entries.count)"),
      ]
      for (index, entry) in entries.enumerated() {
        let values = [
          "\(entry.line)", entry.peer, entry.host ?? "-", entry.port.map { "\($0)" } ?? "-", entry.keyPath, entry.name,
        ]
        fields.append(("entry-\(index + 1)", values.joined(separator: " ")))
      }
      try write(directory, name, fields, Array(text.utf8))
    }
    func bad(_ name: String, _ kind: PeersFileError.Kind, line: Int, _ bytes: [UInt8]) throws {
      XCTAssertThrowsError(try PeersFile.parse(bytes, location: location), name) {
        XCTAssertEqual(($0 as? PeersFileError)?.kind, kind, name)
        XCTAssertEqual(($0 as? PeersFileError)?.line, line, name)
      }
      try write(
        directory, name,
        [("kind", "peers-file"), ("expect", "error \(kind.rawValue) line \(line)"), ("location", location)], bytes)
    }
    func bad(_ name: String, _ kind: PeersFileError.Kind, line: Int, _ text: String) throws {
      try bad(name, kind, line: line, Array(text.utf8))
    }
    let h = "securechat-peers-v1\n"
    try good(
      "good-example",
      h + """
        # PEER   HOST              PORT  KEYFILE                    NAME
        bob      chat.example.org  7000  keys/bob.key               bob
        carol    -                 -     /etc/securechat/carol.key  carol@home

        dave     [2001:db8::7]     7000  keys/dave.key              dave

        """)
    try good("good-header-only", "securechat-peers-v1")
    try good(
      "good-crlf-tabs-and-indented-comments",
      "securechat-peers-v1\r\n\t# indented\r\n  bob\tchat.example.org\t7000\tbob.key\tbob  \r\n\r\n")
    let long64 = String(repeating: "x", count: 64)
    try good(
      "good-ipv6-and-limits",
      h + "v6 [::1] 65535 v6.key v6\none 10.0.0.1 1 one.key one\n\(long64) \(String(repeating: "h", count: 253)) 80"
        + " long.key \(long64)\n")
    try good("good-relative-location", h + "bob - - bob.key bob\n", location: "peers")
    // §10.2: a peers file in / has the empty directory before its last '/': keys/bob.key is
    // /keys/bob.key, not //keys/bob.key.
    try good("good-location-at-root", h + "bob - - keys/bob.key bob\n", location: "/peers")
    func entries(_ count: Int) -> String { (1...count).map { "peer\($0) - - keys/peer\($0).key peer\($0)\n" }.joined() }
    try good("good-64-entries", h + "# as many peers as a file may hold\n" + entries(PeersFile.maxEntries))

    try bad("empty", .notAPeersFile, line: 1, "")
    try bad("comment-before-header", .notAPeersFile, line: 1, "# my peers\n" + h)
    try bad("header-trailing-space", .notAPeersFile, line: 1, "securechat-peers-v1 \n")
    try bad("header-bom", .notAPeersFile, line: 1, [0xef, 0xbb, 0xbf] + Array(h.utf8))
    try bad("version-2", .unsupported, line: 1, "securechat-peers-v2\nbob - - bob.key bob\n")
    try bad("four-fields", .fieldCount, line: 3, h + "# c\nbob - - bob.key\n")
    try bad("trailing-comment", .fieldCount, line: 3, h + "\nbob - - bob.key bob # our friend\n")
    try bad("label-begins-with-dash", .badPeer, line: 2, h + "-bob - - bob.key bob\n")
    try bad("host-with-comma", .badHost, line: 2, h + "bob example.org,fork 7000 bob.key bob\n")
    try bad("host-ipv6-unbracketed", .badHost, line: 2, h + "bob ::1 7000 bob.key bob\n")
    try bad("port-zero", .badPort, line: 2, h + "bob example.org 0 bob.key bob\n")
    try bad("port-leading-zero", .badPort, line: 2, h + "bob example.org 07000 bob.key bob\n")
    try bad("port-too-large", .badPort, line: 2, h + "bob example.org 65536 bob.key bob\n")
    try bad("host-without-port", .badAddress, line: 2, h + "bob example.org - bob.key bob\n")
    try bad("key-file-tilde", .badKeyFile, line: 2, h + "bob - - ~/bob.key bob\n")
    try bad("name-not-valid", .badName, line: 2, h + "bob - - bob.key bob/x\n")
    try bad("name-too-long", .badName, line: 2, h + "bob - - bob.key \(long64)y\n")
    try bad("escape-sequence", .badCharacter, line: 2, h + "bob - - bob\u{1b}[2J.key bob\n")
    try bad("invalid-utf8", .badCharacter, line: 3, Array((h + "bob - - bob.key bob\n# ").utf8) + [0xff, 0x0a])
    try bad("duplicate-peer", .duplicatePeer, line: 4, h + "bob - - bob.key bob\n\nbob - - bob2.key robert\n")
    try bad(
      "too-many-entries", .tooManyEntries, line: 68,
      h + "# 65 peers: one too many\n\n" + entries(PeersFile.maxEntries + 1))
    try bad(
      "duplicate-key-file", .duplicateKeyFile, line: 3,
      h + "bob - - keys/bob.key bob\nrobert - - /home/u/.config/securechat/keys/bob.key robert\n")

    // Entries with a public key in place of a key file (§10.2, FORMATS.md §12.1): the keys of
    // fixed identity secrets, so that the vectors are the same at every run.
    let keys = try (1...2).map { index in
      try PublicKey(
        identitySecret: SecretBytes(copying: (0..<32).map { UInt8(truncatingIfNeeded: index &* 0x45 &+ $0) })
      )
      .text
    }
    try good(
      "good-public-keys",
      h + """
        # a public key in upper case is the same key
        bob    chat.example.org 7000 \(keys[0])  bob
        carol  -                -    \(keys[1].uppercased())  carol@home
        dave   -                -    keys/dave.key  dave

        """)
    var mistyped = Array(keys[0])
    mistyped[20] = mistyped[20] == "q" ? "p" : "q"
    try bad(
      "public-key-mistyped", .badPublicKey, line: 3,
      h + "dave - - keys/dave.key dave\nbob - - \(String(mistyped)) bob\n")
    try bad("public-key-cut-short", .badPublicKey, line: 2, h + "bob - - \(keys[0].dropLast()) bob\n")
    try bad(
      "duplicate-public-key", .duplicatePublicKey, line: 3,
      h + "bob - - \(keys[0]) bob\nrobert - - \(keys[0].uppercased()) robert\n")
  }
}

/// The runners of these vectors, called by VectorTests.testEveryVector.
extension VectorTests {
  private func bytes(_ vector: TestVector, _ field: String) throws -> [UInt8] {
    try XCTUnwrap([UInt8](hexString: vector.fields[field] ?? "x"), "\(vector.name): field \(field)")
  }

  /// PROTOCOL.md §8.4: the responder with the vector's keys and random values must send `send-1`
  /// and then `send-2` (or fail with the class), identify `selected-key`, and so must the same
  /// responder padded as with a peers file (§3.9); and a responder with that key alone must send
  /// exactly the same messages.
  func checkHandshakeResponderKeys(_ vector: TestVector) throws {
    let count = try XCTUnwrap(Int(vector.fields["keys"] ?? ""), vector.name)
    let keys = try (1...count).map { index in
      Handshake.PeerKey(
        psk: SecretBytes(copying: try bytes(vector, "psk-\(index)")),
        expectedName: Array(try XCTUnwrap(vector.fields["name-\(index)"]).utf8), label: "key \(index)")
    }
    func responder(_ keys: [Handshake.PeerKey], paddedTo: Int? = nil) throws -> Handshake {
      try Handshake(
        role: .responder, keys: keys, localName: Array(try XCTUnwrap(vector.fields["local-name"]).utf8),
        paddedTo: paddedTo,
        randomness: Handshake.Randomness(
          ephemeralSecret: SecretBytes(copying: try bytes(vector, "ephemeral-secret")),
          challenge: try bytes(vector, "challenge"), nameFrameIV: try bytes(vector, "name-iv")))
    }
    let machine = try responder(keys)
    XCTAssertNil(machine.start())
    XCTAssertEqual(try machine.receive(try bytes(vector, "receive-1")), try bytes(vector, "send-1"), vector.name)
    let i2 = try bytes(vector, "receive-2")
    var failure: String?
    var r2: [UInt8]?
    do {
      r2 = try machine.receive(i2)
    } catch {
      failure = HandshakeVectors.errorClass(error)
    }
    XCTAssertEqual(failure, vector.expectedError, vector.name)
    // The padding changes nothing but the work done.
    let padded = try responder(keys, paddedTo: PeersFile.maxEntries)
    _ = padded.start()
    XCTAssertEqual(try padded.receive(try bytes(vector, "receive-1")), try bytes(vector, "send-1"), vector.name)
    do {
      let paddedR2 = try padded.receive(i2)
      XCTAssertEqual(paddedR2, r2, vector.name)
      XCTAssertNil(failure, vector.name)
    } catch {
      XCTAssertEqual(HandshakeVectors.errorClass(error), failure, vector.name)
    }
    XCTAssertEqual(padded.selectedKeyIndex, machine.selectedKeyIndex, vector.name)
    XCTAssertEqual(padded.candidateResponsesComputed, PeersFile.maxEntries, vector.name)
    XCTAssertEqual(padded.result?.transcriptHash, machine.result?.transcriptHash, vector.name)
    guard failure == nil, vector.expectedError == nil else {
      XCTAssertNil(machine.result, vector.name)
      return
    }
    XCTAssertEqual(r2, try bytes(vector, "send-2"), vector.name)
    let selected = try XCTUnwrap(Int(vector.fields["selected-key"] ?? ""), vector.name)
    XCTAssertEqual(machine.selectedKeyIndex.map { $0 + 1 }, selected, vector.name)
    let result = try XCTUnwrap(machine.result, vector.name)
    XCTAssertEqual(String(decoding: result.peerName, as: UTF8.self), vector.fields["peer-name"], vector.name)
    XCTAssertEqual(result.transcriptHash, try bytes(vector, "final-transcript-hash"), vector.name)
    XCTAssertEqual(result.verificationCode, vector.fields["verification-code"], vector.name)
    XCTAssertEqual(
      vector.data,
      try bytes(vector, "receive-1") + bytes(vector, "send-1") + i2 + bytes(vector, "send-2"), vector.name)
    // Nothing on the wire depends on the other keys.
    let alone = try responder([keys[selected - 1]])
    _ = alone.start()
    XCTAssertEqual(try alone.receive(try bytes(vector, "receive-1")), try bytes(vector, "send-1"), vector.name)
    XCTAssertEqual(try alone.receive(i2), r2, vector.name)
    XCTAssertEqual(alone.result?.transcriptHash, result.transcriptHash, vector.name)
  }

  /// FORMATS.md §10.5: through the parser, and a failing vector through sc-handshake --peers,
  /// which must refuse the file (exit 2, the line in its message) before it reads from the peer.
  func checkPeersFile(_ vector: TestVector) throws {
    let location = try XCTUnwrap(vector.fields["location"], vector.name)
    var entries: [PeersFile.Entry] = []
    var failure: PeersFileError?
    do {
      entries = try PeersFile.parse(vector.data, location: location)
    } catch {
      failure = try XCTUnwrap(error as? PeersFileError, "\(vector.name): \(error)")
    }
    XCTAssertEqual(failure.map { "\($0.kind.rawValue) line \($0.line)" }, vector.expectedError, vector.name)
    if vector.expectedError == nil {
      XCTAssertEqual("\(entries.count)", vector.fields["entries"], vector.name)
      for (index, entry) in entries.enumerated() {
        let values = [
          "\(entry.line)", entry.peer, entry.host ?? "-", entry.port.map { "\($0)" } ?? "-", entry.keyPath, entry.name,
        ]
        XCTAssertEqual(values.joined(separator: " "), vector.fields["entry-\(index + 1)"], vector.name)
      }
      XCTAssertNil(vector.fields["entry-\(entries.count + 1)"], vector.name)
      return
    }
    let directory = NSTemporaryDirectory() + "sc-peersvector-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/peers"
    XCTAssertTrue(
      FileManager.default.createFile(
        atPath: path, contents: Data(vector.data), attributes: [.posixPermissions: 0o600]))
    // A relative key file resolves elsewhere here: only a vector whose outcome depends on it skips the tool.
    if (try? PeersFile.parse(vector.data, location: path)) != nil {
      XCTAssertEqual(vector.name, "duplicate-key-file.vector", "only this vector depends on its location")
      return
    }
    let result = try ToolRunner.run(
      "sc-handshake", ["--responder", "--peers", path, "-n", "bob", "-o", directory + "/session"],
      stdin: .bytes(Data(HandshakeMessage.abortMessage)))
    XCTAssertEqual(result.status, 2, "\(vector.name): \(result.stderr)")
    XCTAssertTrue(
      result.stderr.hasPrefix("sc-handshake: error: peers file \(path): line \(failure?.line ?? -1): "),
      "\(vector.name): \(result.stderr)")
    XCTAssertTrue(result.stdout.isEmpty, vector.name)
  }
}
