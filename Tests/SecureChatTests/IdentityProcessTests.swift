import Foundation
import XCTest

@testable import SecureChatProtocol

/// sc-handshake -i between two real processes (PROTOCOL.md §11): both roles, a wrong identity, an
/// unknown peer refused and then accepted with --accept-new and pinned, a changed key refused
/// loudly, a thief of Alice's identity refused by Alice, and the session that follows carries
/// messages. The two processes are joined by two fifos, in a shell script bounded by `timeout`.
final class IdentityProcessTests: XCTestCase {
  private var directory = ""

  override func setUpWithError() throws {
    directory = NSTemporaryDirectory() + "identity-process-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for name in ["alice", "bob", "mallory"] {
      let made = try ToolRunner.run("sc-keygen", ["--identity", "-o", path(name)])
      XCTAssertEqual(made.status, 0, made.stderr)
      try made.stdout.write(to: URL(fileURLWithPath: path(name + ".pub")))
    }
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(atPath: directory)
  }

  private func path(_ name: String) -> String { directory + "/" + name }
  private func publicKey(_ name: String) throws -> String {
    try String(contentsOfFile: path(name + ".pub"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
  }

  struct Outcome {
    let initiatorStatus: Int32
    let responderStatus: Int32
    let initiatorError: String
    let responderError: String
  }

  /// Runs `sc-handshake --initiator INITIATOR` against `sc-handshake --responder RESPONDER` (each
  /// a list of arguments), then, if both succeeded, one line each way through sc-seal -s and sc-open -s.
  /// `typed`: the initiator runs on a terminal (util-linux `script`), where this line is typed.
  private func handshake(
    _ initiator: [String], _ responder: [String], session: Bool = false, typed: String? = nil
  ) throws -> Outcome {
    let tool = try ToolRunner.path(of: "sc-handshake")
    let seal = try ToolRunner.path(of: "sc-seal")
    let open = try ToolRunner.path(of: "sc-open")
    let quoted = { (words: [String]) in words.map(ToolRunner.shellQuoted).joined(separator: " ") }
    for file in [
      "a2b", "b2a", "i.session", "r.session", "i.err", "r.err", "i.status", "r.status", "got.i", "got.r", "i.tty",
    ] {
      try? FileManager.default.removeItem(atPath: path(file))
    }
    // The responder opens a2b first and the initiator a2b first as well (for writing), so
    // neither waits on a fifo the other has not opened yet.
    let after =
      session
      ? """
      ; printf 'hello bob\\n' | \(seal) -s i.session >&3; \(open) -s i.session <&4 >got.i
      """ : ""
    let afterResponder =
      session
      ? """
      ; printf 'hello alice\\n' | \(seal) -s r.session >&4; \(open) -s r.session <&3 >got.r
      """ : ""
    let command = "\(tool) --initiator \(quoted(initiator)) -o i.session <&4 >&3"
    // On a terminal: its standard input and output are still the fifos, /dev/tty is script's,
    // and so is its standard error (sc-handshake asks only there); what it shows is also i.err.
    let initiatorCommand =
      typed.map {
        "printf '%s\\n' \(ToolRunner.shellQuoted($0)) | timeout 20 script -qec \(ToolRunner.shellQuoted(command))"
          + " /dev/null >i.tty; s=$?; cp i.tty i.err; (exit $s)"
      } ?? "timeout 20 \(command) 2>i.err"
    let script = """
      set -u
      cd \(ToolRunner.shellQuoted(directory))
      mkfifo a2b b2a
      ( exec 3<a2b 4>b2a; timeout 20 \(tool) --responder \(quoted(responder)) -o r.session <&3 >&4 2>r.err; \\
        echo $? >r.status \(afterResponder) ) &
      exec 3>a2b 4<b2a
      \(initiatorCommand); echo $? >i.status \(after)
      exec 3>&- 4<&-
      wait
      """
    let result = try ToolRunner.runExecutable("/bin/bash", ["-c", script], stdin: .none, timeout: 60)
    XCTAssertEqual(result.status, 0, result.stderr)
    func read(_ name: String) -> String { (try? String(contentsOfFile: path(name), encoding: .utf8)) ?? "" }
    return Outcome(
      initiatorStatus: Int32(read("i.status").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1,
      responderStatus: Int32(read("r.status").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1,
      initiatorError: read("i.err"), responderError: read("r.err"))
  }

  func testBothRolesAuthenticateWithGivenKeysAndTheSessionCarriesLines() throws {
    let outcome = try handshake(
      ["-i", path("alice"), "-n", "alice", "--peer-key", try publicKey("bob")],
      ["-i", path("bob"), "-n", "bob", "--peer-key", try publicKey("alice")], session: true)
    XCTAssertEqual(outcome.initiatorStatus, 0, outcome.initiatorError)
    XCTAssertEqual(outcome.responderStatus, 0, outcome.responderError)
    XCTAssertTrue(outcome.initiatorError.contains("peer key \(try publicKey("bob"))"), outcome.initiatorError)
    XCTAssertTrue(outcome.responderError.contains("peer key \(try publicKey("alice"))"), outcome.responderError)
    let code = { (text: String) in text.split(separator: "\n").first { $0.contains("verification code") } }
    XCTAssertNotNil(code(outcome.initiatorError))
    XCTAssertEqual(code(outcome.initiatorError), code(outcome.responderError))
    XCTAssertEqual(try String(contentsOfFile: path("got.r"), encoding: .utf8), "hello bob\n")
    XCTAssertEqual(try String(contentsOfFile: path("got.i"), encoding: .utf8), "hello alice\n")
  }

  /// Mallory holds an identity, but not Bob's: an initiator that expects Bob's key refuses her
  /// at R2, before it shows its own identity, and no side writes a session.
  func testAWrongIdentityIsRefusedAndNoSessionIsWritten() throws {
    let outcome = try handshake(
      ["-i", path("alice"), "-n", "alice", "--peer-key", try publicKey("bob")],
      ["-i", path("mallory"), "-n", "bob", "--peer-key", try publicKey("alice")])
    XCTAssertEqual(outcome.initiatorStatus, 1, outcome.initiatorError)
    XCTAssertTrue(
      outcome.initiatorError.contains("error: authentication failed: the peer's key is not the one given"),
      outcome.initiatorError)
    XCTAssertEqual(outcome.responderStatus, 1, outcome.responderError)
    XCTAssertTrue(outcome.responderError.contains("rejected by the peer"), outcome.responderError)
    XCTAssertFalse(FileManager.default.fileExists(atPath: path("i.session")))
    XCTAssertFalse(FileManager.default.fileExists(atPath: path("r.session")))
  }

  func testAnUnknownPeerIsRefusedThenAcceptedPinnedAndAChangedKeyIsRefusedLoudly() throws {
    let aliceKnows = path("alice.known")
    let bobKnows = path("bob.known")
    // Unknown to both: the initiator refuses at R2 (without a terminal, no question is asked).
    var outcome = try handshake(
      ["-i", path("alice"), "-n", "alice", "--known-peers", aliceKnows],
      ["-i", path("bob"), "-n", "bob", "--known-peers", bobKnows])
    XCTAssertEqual(outcome.initiatorStatus, 1, outcome.initiatorError)
    XCTAssertTrue(
      outcome.initiatorError.contains("authentication failed: peer 'bob' is not in the known peers file"),
      outcome.initiatorError)
    XCTAssertTrue(outcome.initiatorError.contains("--accept-new"), outcome.initiatorError)
    XCTAssertFalse(FileManager.default.fileExists(atPath: aliceKnows))

    // Accepted and pinned on both sides.
    outcome = try handshake(
      ["-i", path("alice"), "-n", "alice", "--known-peers", aliceKnows, "--accept-new"],
      ["-i", path("bob"), "-n", "bob", "--known-peers", bobKnows, "--accept-new"])
    XCTAssertEqual(outcome.initiatorStatus, 0, outcome.initiatorError)
    XCTAssertEqual(outcome.responderStatus, 0, outcome.responderError)
    XCTAssertEqual(try String(contentsOfFile: aliceKnows, encoding: .utf8), "bob \(try publicKey("bob"))\n")
    XCTAssertEqual(try String(contentsOfFile: bobKnows, encoding: .utf8), "alice \(try publicKey("alice"))\n")
    let mode = try FileManager.default.attributesOfItem(atPath: aliceKnows)[.posixPermissions] as? NSNumber
    XCTAssertEqual(mode?.intValue, 0o600)

    // Known now: no --accept-new needed.
    outcome = try handshake(
      ["-i", path("alice"), "-n", "alice", "--known-peers", aliceKnows],
      ["-i", path("bob"), "-n", "bob", "--known-peers", bobKnows])
    XCTAssertEqual(outcome.initiatorStatus, 0, outcome.initiatorError)
    XCTAssertEqual(outcome.responderStatus, 0, outcome.responderError)

    // Mallory answers as bob: the key of a known name changed. Refused, even with --accept-new,
    // naming both fingerprints; the file is unchanged.
    outcome = try handshake(
      ["-i", path("alice"), "-n", "alice", "--known-peers", aliceKnows, "--accept-new"],
      ["-i", path("mallory"), "-n", "bob", "--known-peers", path("mallory.known"), "--accept-new"])
    XCTAssertEqual(outcome.initiatorStatus, 1, outcome.initiatorError)
    let bobPrint = try PublicKey(text: try publicKey("bob")).fingerprint
    let malloryPrint = try PublicKey(text: try publicKey("mallory")).fingerprint
    XCTAssertTrue(
      outcome.initiatorError.contains(
        "authentication failed: the key of peer 'bob' has changed: \(aliceKnows) line 1 has \(bobPrint),"
          + " the peer shows \(malloryPrint)"), outcome.initiatorError)
    XCTAssertTrue(outcome.initiatorError.contains("hint: someone may be posing as bob"), outcome.initiatorError)
    XCTAssertEqual(try String(contentsOfFile: aliceKnows, encoding: .utf8), "bob \(try publicKey("bob"))\n")
    // Mallory, refused at R2, never learned who was calling: the initiator's identity frame (I3)
    // was not sent, so her known-peers file did not get 'alice'.
    XCTAssertFalse(FileManager.default.fileExists(atPath: path("mallory.known")))
  }

  /// A thief who holds Alice's identity connects to Alice calling himself Bob: Alice, who pinned
  /// Bob, refuses him. (Whatever key he shows, he can prove only Alice's: PROTOCOL.md §11.5; the
  /// state machine test IdentityHandshakeTests shows that showing Bob's key fails as well.)
  func testAThiefWithAlicesIdentityCannotConnectToAliceAsBob() throws {
    let outcome = try handshake(
      ["-i", path("alice"), "-n", "bob", "--peer-key", try publicKey("alice")],
      ["-i", path("alice"), "-n", "alice", "--peer-key", try publicKey("bob")])
    XCTAssertEqual(outcome.responderStatus, 1, outcome.responderError)
    XCTAssertTrue(outcome.responderError.contains("authentication failed"), outcome.responderError)
    XCTAssertFalse(FileManager.default.fileExists(atPath: path("r.session")))
  }

  /// Without --accept-new, on a terminal: the key, its fingerprint and the verification code are
  /// shown, and only "yes" accepts (and pins) it.
  func testAnUnknownPeerIsAcceptedOnlyByYesOnTheTerminal() throws {
    try XCTSkipIf(
      (try? ToolRunner.runExecutable("/bin/sh", ["-c", "command -v script"], stdin: .none).status) != 0,
      "util-linux script is not installed")
    let aliceKnows = path("alice.known")
    let responder = ["-i", path("bob"), "-n", "bob", "--peer-key", try publicKey("alice")]
    var outcome = try handshake(
      ["-i", path("alice"), "-n", "alice", "--known-peers", aliceKnows], responder, typed: "no")
    XCTAssertEqual(outcome.initiatorStatus, 1, outcome.initiatorError)
    let shown = (try? String(contentsOfFile: path("i.tty"), encoding: .utf8)) ?? ""
    XCTAssertTrue(shown.contains("its key is \(try publicKey("bob"))"), shown)
    let code = outcome.responderError.split(separator: "\n").first { $0.contains("verification code") }
    XCTAssertTrue(shown.contains("verification code"), shown)
    XCTAssertNil(code, "the responder was refused, so it showed no code: \(outcome.responderError)")
    XCTAssertTrue(shown.contains("(yes/no)?"), shown)
    XCTAssertFalse(FileManager.default.fileExists(atPath: aliceKnows))

    outcome = try handshake(
      ["-i", path("alice"), "-n", "alice", "--known-peers", aliceKnows], responder, typed: "yes")
    XCTAssertEqual(outcome.initiatorStatus, 0, outcome.initiatorError)
    XCTAssertEqual(outcome.responderStatus, 0, outcome.responderError)
    let initiatorCode = outcome.initiatorError.split(separator: "\n").first { $0.contains("verification code") }
    let tty = (try? String(contentsOfFile: path("i.tty"), encoding: .utf8)) ?? ""
    XCTAssertTrue(
      tty.contains(String(initiatorCode!.split(separator: "code ").last!)), "the code on the terminal: \(tty)")
    XCTAssertEqual(try String(contentsOfFile: aliceKnows, encoding: .utf8), "bob \(try publicKey("bob"))\n")
  }

  func testUsageErrorsExitTwoBeforeAnythingIsSent() throws {
    // A public key where the identity (the secret) is needed.
    try FileManager.default.copyItem(atPath: path("bob.pub"), toPath: path("bob.pub.private"))
    chmod(path("bob.pub.private"), 0o600)
    for (arguments, expected) in [
      (["--initiator", "-n", "a", "-o", path("s"), "--peer-key", try publicKey("bob")], "goes with -i"),
      (
        ["--initiator", "-i", path("alice"), "-n", "a", "-o", path("s"), "--peer-key", "scpub1xyz"],
        "not a valid public key"
      ),
      (
        [
          "--initiator", "-i", path("alice"), "-n", "a", "-o", path("s"), "--peer-key", try publicKey("bob"),
          "--accept-new",
        ],
        "cannot be used with"
      ),
      (
        ["--responder", "-i", path("bob.pub.private"), "-n", "b", "-o", path("s"), "--peer-key", try publicKey("bob")],
        "invalid key file"
      ),
    ] {
      let result = try ToolRunner.run("sc-handshake", arguments)
      XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stdout.isEmpty)
    }
  }

  /// `sc-handshake --responder -i --peers`: the entries with a public key are the peers it
  /// accepts, each under the entry's name (FORMATS.md §10.3); the entries with a key file are for
  /// -k alone, and the other way round.
  func testAResponderWithAPeersFileAcceptsItsPublicKeysUnderTheirNamesOnly() throws {
    let peers = path("bob.peers")
    let book =
      "securechat-peers-v1\nalice - - \(try publicKey("alice")) alice\n"
      + "carol - - \(try publicKey("mallory").uppercased()) carol\nold - - old.key old\n"
    XCTAssertTrue(
      FileManager.default.createFile(atPath: peers, contents: Data(book.utf8), attributes: [.posixPermissions: 0o600]))
    let responder = ["-i", path("bob"), "-n", "bob", "--peers", peers]
    func initiator(_ who: String, as name: String) throws -> [String] {
      ["-i", path(who), "-n", name, "--peer-key", try publicKey("bob")]
    }
    var outcome = try handshake(try initiator("alice", as: "alice"), responder, session: true)
    XCTAssertEqual(outcome.responderStatus, 0, outcome.responderError)
    XCTAssertTrue(outcome.responderError.contains("peers file entry 'alice'"), outcome.responderError)
    XCTAssertEqual(try String(contentsOfFile: path("got.r"), encoding: .utf8), "hello bob\n")
    // The key of the carol entry, written in upper case, is the same key.
    outcome = try handshake(try initiator("mallory", as: "carol"), responder)
    XCTAssertEqual(outcome.responderStatus, 0, outcome.responderError)
    XCTAssertTrue(outcome.responderError.contains("peers file entry 'carol'"), outcome.responderError)

    // Carol's key under alice's name, and a key no entry holds: refused, no session written.
    for (who, name, reason) in [
      ("mallory", "alice", "but named itself 'alice', not 'carol'"),
      ("bob", "dave", "which no entry of the peers file"),
    ] {
      try? FileManager.default.removeItem(atPath: path("r.session"))
      outcome = try handshake(try initiator(who, as: name), responder)
      XCTAssertEqual(outcome.responderStatus, 1, "\(who) as \(name): \(outcome.responderError)")
      XCTAssertTrue(outcome.responderError.contains(reason), "\(who) as \(name): \(outcome.responderError)")
      XCTAssertEqual(outcome.initiatorStatus, 1, outcome.initiatorError)
      XCTAssertFalse(FileManager.default.fileExists(atPath: path("r.session")))
    }

    // A peers file without public keys cannot serve -i, nor one without key files -k.
    let onlyKeyFiles = path("old.peers")
    XCTAssertTrue(
      FileManager.default.createFile(
        atPath: onlyKeyFiles, contents: Data("securechat-peers-v1\nold - - old.key old\n".utf8),
        attributes: [.posixPermissions: 0o600]))
    var result = try ToolRunner.run(
      "sc-handshake", ["--responder", "-i", path("bob"), "-n", "bob", "--peers", onlyKeyFiles, "-o", path("x")],
      stdin: .bytes(Data()))
    XCTAssertEqual(result.status, 2, result.stderr)
    XCTAssertTrue(result.stderr.contains("has no entries with a public key"), result.stderr)
    let onlyPublicKeys = path("new.peers")
    XCTAssertTrue(
      FileManager.default.createFile(
        atPath: onlyPublicKeys, contents: Data("securechat-peers-v1\nalice - - \(try publicKey("alice")) alice\n".utf8),
        attributes: [.posixPermissions: 0o600]))
    result = try ToolRunner.run(
      "sc-handshake", ["--responder", "-n", "bob", "--peers", onlyPublicKeys, "-o", path("x")], stdin: .bytes(Data()))
    XCTAssertEqual(result.status, 2, result.stderr)
    XCTAssertTrue(result.stderr.contains("has no entries with a key file"), result.stderr)
    result = try ToolRunner.run(
      "sc-handshake",
      ["--responder", "-i", path("bob"), "-n", "bob", "--peers", peers, "--accept-new", "-o", path("x")],
      stdin: .bytes(Data()))
    XCTAssertEqual(result.status, 2, result.stderr)
  }

  /// `sc-keygen -y` on a file of public keys prints each key's fingerprint and the key; such a
  /// file may be readable by anyone, an identity may not.
  func testKeygenPrintsTheFingerprintsOfAFileOfPublicKeys() throws {
    let list = path("keys.pub")
    let text = "# friends\n\(try publicKey("alice"))\n\n  \(try publicKey("bob"))\n"
    XCTAssertTrue(
      FileManager.default.createFile(atPath: list, contents: Data(text.utf8), attributes: [.posixPermissions: 0o644]))
    let result = try ToolRunner.run("sc-keygen", ["-y", list])
    XCTAssertEqual(result.status, 0, result.stderr)
    let lines = String(decoding: result.stdout, as: UTF8.self).split(separator: "\n")
    XCTAssertEqual(lines.count, 2)
    XCTAssertTrue(lines.first?.hasPrefix("SHA256:") ?? false, "\(lines)")
    XCTAssertTrue(lines.first?.hasSuffix(" \(try publicKey("alice"))") ?? false, "\(lines)")
    XCTAssertTrue(lines.last?.hasSuffix(" \(try publicKey("bob"))") ?? false, "\(lines)")
    XCTAssertNotEqual(lines.first?.split(separator: " ").first, lines.last?.split(separator: " ").first)

    var mistyped = Array(try publicKey("bob"))
    mistyped[30] = mistyped[30] == "q" ? "p" : "q"
    try Data((String(mistyped) + "\n").utf8).write(to: URL(fileURLWithPath: list))
    let refused = try ToolRunner.run("sc-keygen", ["-y", list])
    XCTAssertEqual(refused.status, 2, refused.stderr)
    XCTAssertTrue(refused.stderr.contains("line 1: its checksum does not match"), refused.stderr)

    chmod(path("alice"), 0o644)
    let exposed = try ToolRunner.run("sc-keygen", ["-y", path("alice")])
    XCTAssertEqual(exposed.status, 2, exposed.stderr)
    XCTAssertTrue(exposed.stderr.contains("accessible by others"), exposed.stderr)
    XCTAssertEqual(exposed.stdout.count, 0)
  }
}
