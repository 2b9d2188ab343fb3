import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// Files sealed to recipients (FORMATS.md §12.2) through the real sc-seal and sc-open: round
/// trips, who can open, --from, and the attacks of the security notes, which must fail.
final class RecipientFileTests: XCTestCase {
  typealias People = RecipientVectorPeople
  private var directory: URL!

  override func setUpWithError() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("sc-recipients-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    for (name, person) in [
      ("alice", People.alice), ("bob", People.bob), ("carol", People.carol), ("dave", People.dave),
    ] {
      XCTAssertTrue(
        FileManager.default.createFile(
          atPath: path(name + ".id"),
          contents: Data(KeyFile.serialize(KeyFile.Key(type: .identity, secret: person.secret)).copyForTesting()),
          attributes: [.posixPermissions: 0o600]))
    }
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(at: directory)
  }

  private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

  private func write(_ name: String, _ bytes: [UInt8]) {
    XCTAssertTrue(FileManager.default.createFile(atPath: path(name), contents: Data(bytes)))
  }

  private func read(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path(name)))) }

  private var alice: String { People.alice.publicKey.text }
  private var bob: String { People.bob.publicKey.text }
  private var carol: String { People.carol.publicKey.text }

  /// Seals `plaintext` with sc-seal and `arguments`; returns the sealed bytes.
  private func seal(_ plaintext: [UInt8], _ arguments: [String]) throws -> [UInt8] {
    let result = try ToolRunner.run("sc-seal", arguments + ["-o", "-"], stdin: .bytes(Data(plaintext)))
    XCTAssertEqual(result.status, 0, result.stderr)
    return Array(result.stdout)
  }

  private func open(_ sealed: [UInt8], _ arguments: [String]) throws -> ToolResult {
    try ToolRunner.run("sc-open", arguments + ["-o", "-"], stdin: .bytes(Data(sealed)))
  }

  func testRoundTripsToOneAndThreeRecipients() throws {
    write("team.pub", Array("# the team\n\n  \(carol)  \n\(bob)\n# bob again: merged\n\(bob)\r\n".utf8))
    let large = (0..<(200 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
    for plaintext in [[], Array("hello\n".utf8), large] {
      for armored in [false, true] {
        let armor = armored ? ["-a"] : []
        let toBob = try seal(plaintext, ["-r", bob] + armor)
        let opened = try open(toBob, ["-i", path("bob.id")])
        XCTAssertEqual(opened.status, 0, opened.stderr)
        XCTAssertEqual(Array(opened.stdout), plaintext)
        XCTAssertEqual(opened.stderr, "sc-open: the sender is anonymous\n")
        XCTAssertEqual(toBob[6], armored ? toBob[6] : 2, "version 2")

        let toThree = try seal(plaintext, ["-r", alice, "-R", path("team.pub"), "-i", path("alice.id")] + armor)
        if !armored { XCTAssertEqual(toThree[40], 3, "three recipients, bob merged") }
        for name in ["alice", "bob", "carol"] {
          // To a regular file (temp and rename) and with --from.
          let output = path("out-\(name)")
          let result = try ToolRunner.run(
            "sc-open", ["-i", path("\(name).id"), "--from", alice, "-o", output], stdin: .bytes(Data(toThree)))
          XCTAssertEqual(result.status, 0, "\(name): \(result.stderr)")
          XCTAssertEqual(try read("out-\(name)"), plaintext, name)
          XCTAssertEqual(
            result.stderr, "sc-open: sealed by \(alice) (fingerprint \(People.alice.publicKey.fingerprint))\n")
          try FileManager.default.removeItem(atPath: output)
        }
      }
    }
  }

  func testANonRecipientFailsAndWritesNothing() throws {
    let sealed = try seal(Array("secret\n".utf8), ["-r", bob, "-r", carol, "-i", path("alice.id")])
    write("sealed", sealed)
    let result = try ToolRunner.run("sc-open", ["-i", path("dave.id"), "-o", path("out"), path("sealed")])
    XCTAssertEqual(result.status, 1)
    XCTAssertTrue(
      result.stderr.contains("authentication failed: this identity is not a recipient of the file"), result.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: path("out")))
    let toPipe = try open(sealed, ["-i", path("dave.id")])
    XCTAssertEqual(toPipe.status, 1)
    XCTAssertTrue(toPipe.stdout.isEmpty)
  }

  func testFromAcceptsTheSenderAndRefusesAnyOther() throws {
    let sealed = try seal(Array("from alice\n".utf8), ["-r", bob, "-i", path("alice.id")])
    XCTAssertEqual(try open(sealed, ["-i", path("bob.id"), "--from", alice]).status, 0)
    let other = try open(sealed, ["-i", path("bob.id"), "--from", carol])
    XCTAssertEqual(other.status, 1)
    XCTAssertTrue(other.stderr.contains("sc-open: error: authentication failed: not sealed by \(carol)"), other.stderr)
    // Refused before any frame: nothing reaches the pipe.
    XCTAssertTrue(other.stdout.isEmpty)
  }

  func testAnAnonymousFileFailsFromBeforeReleasingAnything() throws {
    let sealed = try seal(Array(repeating: 0x61, count: 300_000), ["-r", bob])
    let result = try open(sealed, ["-i", path("bob.id"), "--from", alice])
    XCTAssertEqual(result.status, 1)
    XCTAssertTrue(result.stderr.contains("the sender is anonymous"), result.stderr)
    XCTAssertEqual(result.stdout.count, 0, "plaintext released before the --from check")
  }

  /// Bob, a recipient of Alice's file to Bob and Carol, knows the file's keys: he replaces the
  /// content and keeps Alice's header and trailer. Carol's proof covers the content: it fails.
  func testARecipientCannotAlterTheContentForAnotherRecipient() throws {
    let sealed = try seal(Array("pay bob 10\n".utf8), ["-r", bob, "-r", carol, "-i", path("alice.id")])
    XCTAssertEqual(try open(sealed, ["-i", path("carol.id"), "--from", alice]).status, 0, "the original opens")
    let headerSize = RecipientFile.headerSize(recipients: 2, mode: .authenticated)
    let opened = try sealed.withUnsafeBytes {
      try RecipientFile.openHeader(
        UnsafeRawBufferPointer(rebasing: $0[0..<headerSize]), mode: .authenticated, identity: People.bob,
        expectedSender: nil)
    }
    let forgedFrame = try FrameSealer(keys: opened.keys.frames).seal(Array("pay bob 1000\n".utf8), isFinal: true)
    let altered = Array(sealed[0..<headerSize]) + forgedFrame + Array(sealed.suffix(64))
    // The frame verifies (Bob had the keys); only the proof stops it.
    for arguments in [["-i", path("carol.id"), "--from", alice], ["-i", path("carol.id")]] {
      let result = try ToolRunner.run("sc-open", arguments + ["-o", path("out")], stdin: .bytes(Data(altered)))
      XCTAssertEqual(result.status, 1, result.stderr)
      XCTAssertTrue(result.stderr.contains("the sender's proof does not verify"), result.stderr)
      XCTAssertFalse(FileManager.default.fileExists(atPath: path("out")))
    }
  }

  /// Bob seals a new file to Carol naming Alice as the sender, with everything he holds: his own
  /// identity secret cannot make Alice's proof for Carol.
  func testARecipientCannotSealToAnotherRecipientAsTheSender() throws {
    let forger = RecipientFile.Identity(secret: People.bob.secret, publicKey: People.alice.publicKey)
    let forged = try RecipientFile.seal(
      Array("from alice, really\n".utf8), recipients: [People.carol.publicKey], sender: forger)
    let result = try open(forged, ["-i", path("carol.id"), "--from", alice])
    XCTAssertEqual(result.status, 1, result.stderr)
    XCTAssertTrue(result.stderr.contains("the sender's proof does not verify"), result.stderr)
    // His honest file names him, and --from alice refuses it.
    let honest = try RecipientFile.seal(Array("hi\n".utf8), recipients: [People.carol.publicKey], sender: People.bob)
    XCTAssertEqual(try open(honest, ["-i", path("carol.id"), "--from", alice]).status, 1)
    XCTAssertEqual(try open(honest, ["-i", path("carol.id"), "--from", bob]).status, 0)
  }

  /// Every byte of the header (stanzas and tag included) flipped: never exit 0. A flipped byte of
  /// the trailer fails for the recipient whose proof it is (each checks only its own: §12.2).
  func testEveryFlippedHeaderOrTrailerByteFails() throws {
    let sealed = try seal(Array("x".utf8), ["-r", bob, "-r", carol, "-i", path("alice.id")])
    let headerSize = RecipientFile.headerSize(recipients: 2, mode: .authenticated)
    for position in 0..<sealed.count {
      var changed = sealed
      changed[position] ^= 0x01
      let inTrailer = position >= sealed.count - 64
      var statuses: [Int32] = []
      for (name, identity) in [("bob", People.bob), ("carol", People.carol)] {
        // The tool for every header byte and the trailer; the library for all bytes.
        if inTrailer || (position < headerSize && name == "bob") {
          statuses.append(try open(changed, ["-i", path("\(name).id")]).status)
        }
        do {
          _ = try SealedFile.open(changed, opener: .identity(identity, expectedSender: nil))
          if !inTrailer { XCTFail("byte \(position): the library opened it for \(name)") }
        } catch let error as ProtocolError {
          if position < headerSize && name == "bob" {
            XCTAssertEqual(statuses.last, error.isIntegrityFailure ? 1 : 2, "byte \(position): \(error)")
          }
        }
      }
      if inTrailer {
        XCTAssertEqual(statuses.filter { $0 == 1 }.count, 1, "byte \(position): exactly its recipient refuses")
        XCTAssertEqual(statuses.filter { $0 == 0 }.count, 1, "byte \(position)")
      } else if position < headerSize {
        XCTAssertFalse(statuses.contains(0), "byte \(position): \(statuses)")
      }
    }
  }

  func testKeyFileAndIdentityAreNotInterchangeable() throws {
    let psk = KeyFile.Key(type: .psk, secret: SecretBytes(copying: [UInt8](repeating: 9, count: 32)))
    XCTAssertTrue(
      FileManager.default.createFile(
        atPath: path("psk.key"), contents: Data(KeyFile.serialize(psk).copyForTesting()),
        attributes: [.posixPermissions: 0o600]))
    let toBob = try seal(Array("v2\n".utf8), ["-r", bob])
    let withKey = try open(toBob, ["-k", path("psk.key")])
    XCTAssertEqual(withKey.status, 2)
    XCTAssertTrue(
      withKey.stderr.contains(
        "sc-open: error: wrong key type: the input is sealed to recipients: open it with -i IDENTITY"),
      withKey.stderr)
    let withPSK = try seal(Array("v1\n".utf8), ["-k", path("psk.key")])
    let withIdentity = try open(withPSK, ["-i", path("bob.id")])
    XCTAssertEqual(withIdentity.status, 2)
    XCTAssertTrue(
      withIdentity.stderr.contains(
        "sc-open: error: wrong key type: the input is sealed with a pre-shared key: open it with -k KEYFILE"),
      withIdentity.stderr)
    // A psk key file is not an identity, and the reverse.
    XCTAssertEqual(try open(toBob, ["-i", path("psk.key")]).status, 2)
    XCTAssertEqual(try ToolRunner.run("sc-seal", ["-k", path("bob.id")], stdin: .bytes(Data())).status, 2)
  }

  func testUsageErrors() throws {
    write("bad.pub", Array("# ok\n\(bob)\n\(String(bob.dropLast()))x\n".utf8))
    let many = (0..<65).map {
      try! PublicKey(identitySecret: SecretBytes(copying: [UInt8](repeating: UInt8($0 + 1), count: 32))).text
    }
    write("many.pub", Array(many.joined(separator: "\n").utf8))
    let cases: [([String], String)] = [
      (["sc-seal", "-r", bob, "-k", path("bob.id")], "cannot be mixed"),
      (["sc-seal", "-i", path("alice.id")], "-i (the sender's identity) goes with -r or -R"),
      (["sc-seal", "-R", path("bad.pub")], "not a valid public key in \(path("bad.pub")) line 3: "),
      (["sc-seal", "-r", "scpub1short"], "not a valid public key: "),
      (["sc-seal", "-R", path("many.pub")], "at most 64 recipients, not 65"),
      (["sc-open", "-i", path("bob.id"), "-k", path("bob.id")], "cannot be mixed"),
      (["sc-open", "--from", alice, "-k", path("bob.id")], "--from goes with -i IDENTITY"),
      (["sc-open", "-i", path("bob.id"), "--from", "scpub1x"], "not a valid public key: "),
    ]
    for (command, message) in cases {
      let result = try ToolRunner.run(command[0], Array(command.dropFirst()), stdin: .bytes(Data()))
      XCTAssertEqual(result.status, 2, "\(command): \(result.stderr)")
      XCTAssertTrue(
        result.stderr.hasPrefix("\(command[0]): error: ") && result.stderr.contains(message),
        "\(command): \(result.stderr)")
      XCTAssertTrue(result.stdout.isEmpty, "\(command)")
    }
    // 64 distinct recipients are fine.
    write("64.pub", Array(many.prefix(64).joined(separator: "\n").utf8))
    let sealed = try seal(Array("to many\n".utf8), ["-R", path("64.pub")])
    XCTAssertEqual(sealed[40], 64)
  }
}
