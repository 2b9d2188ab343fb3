import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The built sc-handshake with a peers file (`--responder --peers`) and with `--peer-name`: two
/// processes wired to each other with two pipes, one handshake after another against the same
/// peers file, as a listener that serves several peers would run.
final class PeersProcessTests: XCTestCase {
  private var directory = ""

  /// The three peers in the peers file: label, name, key file (relative to the peers file).
  private let entries = [
    ("al", "alice", "keys/alice.key"), ("carol", "carol", "keys/carol.key"), ("d", "dave", "dave.key"),
  ]

  override func setUpWithError() throws {
    try super.setUpWithError()
    signal(SIGPIPE, SIG_IGN)
    directory = NSTemporaryDirectory() + "sc-peers-process-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory + "/keys", withIntermediateDirectories: true)
    for key in ["keys/alice.key", "keys/carol.key", "dave.key", "stranger.key"] {
      let result = try ToolRunner.run("sc-keygen", ["-o", path(key)])
      guard result.status == 0 else { throw ToolRunnerError(description: "sc-keygen: \(result.stderr)") }
    }
    var text = "securechat-peers-v1\n# PEER HOST PORT KEYFILE NAME\n"
    for (label, name, key) in entries { text += "\(label) - - \(key) \(name)\n" }
    try write("peers", text)
  }

  override func tearDownWithError() throws {
    if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
    try super.tearDownWithError()
  }

  private func path(_ name: String) -> String { directory + "/" + name }

  private func write(_ name: String, _ text: String, mode: mode_t = 0o600) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path(name)))
    XCTAssertEqual(chmod(path(name), mode), 0)
  }

  private func read(_ name: String) -> String {
    (FileManager.default.contents(atPath: path(name))).map { String(decoding: $0, as: UTF8.self) } ?? ""
  }

  struct Outcome {
    let status: Int32
    let stderr: String
    let wroteSession: Bool
  }

  /// Runs `initiator` and `responder` (arguments after the tool's path, without -o) against each
  /// other over two pipes; each writes its session to `<tag>.i.session` / `<tag>.r.session`.
  private func handshake(_ tag: String, initiator: [String], responder: [String]) throws -> (
    initiator: Outcome, responder: Outcome
  ) {
    let tool = try ToolRunner.path(of: "sc-handshake")
    let toResponder = try closeOnExecPipe()
    let toInitiator = try closeOnExecPipe()
    var pids: [pid_t] = []
    var descriptors: Set<Int32> = [toResponder.read, toResponder.write, toInitiator.read, toInitiator.write]
    defer { for fd in descriptors { close(fd) } }
    for (side, arguments, input, output) in [
      ("i", initiator, toInitiator.read, toResponder.write), ("r", responder, toResponder.read, toInitiator.write),
    ] {
      let errors = open(path("\(tag).\(side).err"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
      XCTAssertGreaterThanOrEqual(errors, 0)
      descriptors.insert(errors)
      pids.append(
        try spawnTool(
          [tool] + arguments + ["-o", path("\(tag).\(side).session"), "--timeout", "20"],
          descriptors: [0: input, 1: output, 2: errors]))
    }
    // Only the children hold the pipes now: a side that exits closes its ends, and the other sees it.
    for fd in descriptors { close(fd) }
    descriptors = []
    var statuses: [Int32] = []
    let deadline = Date().addingTimeInterval(40)
    for pid in pids {
      var status: Int32 = 0
      while waitpid(pid, &status, WNOHANG) == 0 {
        if Date() > deadline {
          kill(pid, SIGKILL)
          XCTFail("\(tag): sc-handshake did not finish")
        }
        usleep(2000)
      }
      statuses.append((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f))
    }
    func outcome(_ index: Int, _ side: String) -> Outcome {
      Outcome(
        status: statuses[index], stderr: read("\(tag).\(side).err"),
        wroteSession: FileManager.default.fileExists(atPath: path("\(tag).\(side).session")))
    }
    return (outcome(0, "i"), outcome(1, "r"))
  }

  private func code(_ stderr: String) -> String? {
    stderr.split(separator: "\n").first { $0.hasPrefix("sc-handshake: verification code ") }.map(String.init)
  }

  private let listener = ["--responder", "--peers"]

  func testOneListenerIdentifiesThreePeersOneAfterAnother() throws {
    for (label, name, key) in entries {
      let result = try handshake(
        label, initiator: ["--initiator", "-k", path(key), "-n", name, "--peer-name", "bob"],
        responder: listener + [path("peers"), "-n", "bob"])
      XCTAssertEqual(result.initiator.status, 0, "\(label): \(result.initiator.stderr)")
      XCTAssertEqual(result.responder.status, 0, "\(label): \(result.responder.stderr)")
      // The two lines sc-chat reads, unchanged, then the entry.
      let lines = result.responder.stderr.split(separator: "\n").map(String.init)
      XCTAssertEqual(lines.count, 3, result.responder.stderr)
      XCTAssertEqual(lines.first, "sc-handshake: authenticated peer '\(name)'")
      XCTAssertNotNil(
        lines.count > 1 ? lines[1].wholeMatch(of: /sc-handshake: verification code \d{3} \d{3} \d{3} \d{3}/) : nil)
      XCTAssertEqual(lines.last, "sc-handshake: peers file entry '\(label)'")
      XCTAssertEqual(
        result.initiator.stderr.split(separator: "\n").first, "sc-handshake: authenticated peer 'bob'")
      XCTAssertFalse(result.initiator.stderr.contains("peers file"), result.initiator.stderr)
      XCTAssertNotNil(code(result.initiator.stderr))
      XCTAssertEqual(code(result.initiator.stderr), code(result.responder.stderr), label)
      XCTAssertTrue(result.initiator.wroteSession && result.responder.wroteSession, label)
    }
  }

  /// FORMATS.md §10.2: a peers file of 64 entries serves its first and last peer; one of 65 is
  /// refused before the handshake, with status 2, the line, and a hint.
  func testAtMost64Entries() throws {
    for index in 4...65 {
      let result = try ToolRunner.run("sc-keygen", ["-o", path("keys/p\(index).key")])
      XCTAssertEqual(result.status, 0, result.stderr)
    }
    let many = entries.map { "\($0.0) - - \($0.2) \($0.1)\n" } + (4...65).map { "p\($0) - - keys/p\($0).key p\($0)\n" }
    try write("peers64", "securechat-peers-v1\n" + many.prefix(64).joined())
    try write("peers65", "securechat-peers-v1\n" + many.joined())
    for (label, name, key) in [("al", "alice", "keys/alice.key"), ("p64", "p64", "keys/p64.key")] {
      let result = try handshake(
        "many-\(label)", initiator: ["--initiator", "-k", path(key), "-n", name],
        responder: listener + [path("peers64"), "-n", "bob"])
      XCTAssertEqual(result.initiator.status, 0, "\(label): \(result.initiator.stderr)")
      XCTAssertEqual(result.responder.status, 0, "\(label): \(result.responder.stderr)")
      XCTAssertTrue(result.responder.stderr.hasSuffix("sc-handshake: peers file entry '\(label)'\n"))
    }
    let refused = try ToolRunner.run(
      "sc-handshake", listener + [path("peers65"), "-n", "bob", "-o", path("never.session")],
      stdin: .bytes(Data([0x7f, 0x00, 0x00])))  // the abort message: never read
    XCTAssertEqual(refused.status, 2, refused.stderr)
    XCTAssertEqual(
      refused.stderr,
      "sc-handshake: error: peers file \(path("peers65")): line 66: entry 65: a peers file holds at most 64 entries\n"
        + "sc-handshake: hint: keep at most 64 peers in one file; a listener on another port can take another\n")
    XCTAssertTrue(refused.stdout.isEmpty)
    XCTAssertFalse(FileManager.default.fileExists(atPath: path("never.session")))
  }

  func testAFourthPeerWithAnUnknownKeyFailsOnBothSides() throws {
    let result = try handshake(
      "stranger", initiator: ["--initiator", "-k", path("stranger.key"), "-n", "eve"],
      responder: listener + [path("peers"), "-n", "bob"])
    XCTAssertEqual(result.initiator.status, 1, result.initiator.stderr)
    XCTAssertEqual(result.responder.status, 1, result.responder.stderr)
    XCTAssertEqual(
      result.responder.stderr,
      "sc-handshake: error: authentication failed: the peer's response does not verify under any of the 3 keys"
        + " (unknown key, or tampered)\n")
    XCTAssertEqual(
      result.initiator.stderr,
      "sc-handshake: error: rejected by the peer: it sent the abort (it holds another key, or does not accept"
        + " this side's name)\n")
    XCTAssertFalse(result.initiator.wroteSession || result.responder.wroteSession)
  }

  func testAPeerWhoseKeyVerifiesButWhoseNameDiffersFromItsEntryFails() throws {
    let result = try handshake(
      "mallory", initiator: ["--initiator", "-k", path("keys/carol.key"), "-n", "mallory"],
      responder: listener + [path("peers"), "-n", "bob"])
    XCTAssertEqual(result.responder.status, 1, result.responder.stderr)
    XCTAssertEqual(
      result.responder.stderr,
      "sc-handshake: error: authentication failed: the peer authenticated with the key of entry 'carol'"
        + " but named itself 'mallory', not 'carol'\n")
    // The peer learns only that authentication failed.
    XCTAssertEqual(result.initiator.status, 1, result.initiator.stderr)
    // Its key is right, its name (-n) is not: the message must not blame the key alone (issue 13).
    XCTAssertTrue(
      result.initiator.stderr.hasPrefix("sc-handshake: error: rejected by the peer: "), result.initiator.stderr)
    XCTAssertTrue(result.initiator.stderr.contains("does not accept this side's name"), result.initiator.stderr)
    XCTAssertFalse(result.initiator.stderr.contains("different key"), result.initiator.stderr)
    XCTAssertFalse(result.initiator.wroteSession || result.responder.wroteSession)
    // Another entry's name with carol's key fails the same way.
    let swapped = try handshake(
      "swapped", initiator: ["--initiator", "-k", path("keys/carol.key"), "-n", "alice"],
      responder: listener + [path("peers"), "-n", "bob"])
    XCTAssertEqual(swapped.responder.status, 1)
    XCTAssertTrue(swapped.responder.stderr.contains("key of entry 'carol' but named itself 'alice'"))
  }

  func testPeerNameMismatchFailsTheInitiatorAfterTheLastMessage() throws {
    let result = try handshake(
      "initiator-name", initiator: ["--initiator", "-k", path("dave.key"), "-n", "dave", "--peer-name", "bob"],
      responder: ["--responder", "-k", path("dave.key"), "-n", "robert"])
    XCTAssertEqual(result.initiator.status, 1, result.initiator.stderr)
    XCTAssertEqual(
      result.initiator.stderr, "sc-handshake: error: authentication failed: the peer named itself 'robert', not 'bob'\n"
    )
    XCTAssertFalse(result.initiator.wroteSession)
    // The responder had finished when it sent its last message (PROTOCOL.md §7.10).
    XCTAssertEqual(result.responder.status, 0, result.responder.stderr)

    let responderSide = try handshake(
      "responder-name", initiator: ["--initiator", "-k", path("dave.key"), "-n", "mallory"],
      responder: ["--responder", "-k", path("dave.key"), "-n", "bob", "--peer-name", "dave"])
    XCTAssertEqual(responderSide.responder.status, 1, responderSide.responder.stderr)
    XCTAssertEqual(
      responderSide.responder.stderr,
      "sc-handshake: error: authentication failed: the peer named itself 'mallory', not 'dave'\n")
    XCTAssertEqual(responderSide.initiator.status, 1)
    XCTAssertFalse(responderSide.initiator.wroteSession || responderSide.responder.wroteSession)

    let matching = try handshake(
      "matching", initiator: ["--initiator", "-k", path("dave.key"), "-n", "dave", "--peer-name", "bob"],
      responder: ["--responder", "-k", path("dave.key"), "-n", "bob", "--peer-name", "dave"])
    XCTAssertEqual(matching.initiator.status, 0, matching.initiator.stderr)
    XCTAssertEqual(matching.responder.status, 0, matching.responder.stderr)
  }

  /// Refusals before the handshake: status 2, one error line, nothing sent to the peer.
  func testUsageAndPeersFileErrors() throws {
    func refused(_ arguments: [String], _ message: String, line: UInt = #line) throws {
      let result = try ToolRunner.run("sc-handshake", arguments + ["-o", path("never.session")])
      XCTAssertEqual(result.status, 2, result.stderr, line: line)
      XCTAssertTrue(result.stderr.hasPrefix("sc-handshake: error: \(message)"), result.stderr, line: line)
      XCTAssertTrue(result.stdout.isEmpty, line: line)
      XCTAssertFalse(FileManager.default.fileExists(atPath: path("never.session")), line: line)
    }
    let peers = path("peers")
    try refused(["--initiator", "--peers", peers, "-n", "a"], "--peers needs --responder")
    try refused(
      ["--responder", "--peers", peers, "-k", path("dave.key"), "-n", "a"], "give either -k KEYFILE or --peers")
    try refused(
      ["--responder", "--peers", peers, "--peer-name", "x", "-n", "a"], "--peer-name cannot be used with --peers")
    try refused(["--responder", "--peers", "-", "-n", "a"], "the key cannot come from standard input")
    try refused(["--responder", "-n", "a"], "a key file is needed: -k KEYFILE, or a peers file: --peers PEERSFILE")
    try refused(["--initiator", "-k", path("dave.key"), "-n", "a", "--peer-name", "b c"], "invalid peer name 'b c'")

    XCTAssertEqual(chmod(peers, 0o644), 0)
    try refused(["--responder", "--peers", peers, "-n", "bob"], "peers file \(peers) is accessible by others")
    XCTAssertEqual(chmod(peers, 0o600), 0)

    try write("bad-peers", "securechat-peers-v1\n\nbob - - dave.key bob extra\n")
    try refused(
      ["--responder", "--peers", path("bad-peers"), "-n", "bob"],
      "peers file \(path("bad-peers")): line 3: 6 fields where 5 are needed")
    try write("empty-peers", "securechat-peers-v1\n# nobody yet\n")
    try refused(
      ["--responder", "--peers", path("empty-peers"), "-n", "bob"], "peers file \(path("empty-peers")) has no entries")
    // A copy of carol's key under another name would not tell the two entries apart.
    try Data(contentsOf: URL(fileURLWithPath: path("keys/carol.key"))).write(to: URL(fileURLWithPath: path("copy.key")))
    XCTAssertEqual(chmod(path("copy.key"), 0o600), 0)
    try write("copied-peers", "securechat-peers-v1\ncarol - - keys/carol.key carol\nx - - copy.key x\n")
    try refused(
      ["--responder", "--peers", path("copied-peers"), "-n", "bob"],
      "peers file \(path("copied-peers")): peers 'carol' (line 2) and 'x' (line 3) have the same key")
    try write("missing-peers", "securechat-peers-v1\nzed - - nope.key zed\n")
    let missing = try ToolRunner.run(
      "sc-handshake", ["--responder", "--peers", path("missing-peers"), "-n", "bob", "-o", path("never.session")])
    XCTAssertEqual(missing.status, 2)
    XCTAssertTrue(
      missing.stderr.contains("hint: the key file of peer 'zed' (\(path("missing-peers")) line 2)"), missing.stderr)
  }
}

// MARK: - Continuing a verified session (PROTOCOL.md §4.7), and one's own name (§3.5 A5)

extension PeersProcessTests {
  private func sessionID(_ stderr: String, _ prefix: String) -> String? {
    stderr.split(separator: "\n").first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count).prefix(32)) }
  }

  func testAContinuedHandshakeNeedsTheSecretOfTheVerifiedSession() throws {
    let key = path("dave.key")
    let alice = ["--initiator", "-k", key, "-n", "alice"]
    let bob = ["--responder", "-k", key, "-n", "bob"]
    let first = try handshake(
      "s1", initiator: alice + ["--continuation-to", path("c1.i")],
      responder: bob + ["--continuation-to", path("c1.r")])
    XCTAssertEqual(first.initiator.status, 0, first.initiator.stderr)
    XCTAssertEqual(first.responder.status, 0, first.responder.stderr)
    for side in ["c1.i", "c1.r"] {
      let info = try FileManager.default.attributesOfItem(atPath: path(side))
      XCTAssertEqual((info[.posixPermissions] as? NSNumber)?.intValue, 0o600, side)
      XCTAssertEqual((info[.size] as? NSNumber)?.intValue, 58 + 5 + 3, side)
    }

    // Both hold it: the session continues, and both say which one.
    let continued = try handshake(
      "s2", initiator: alice + ["--continue-from", path("c1.i")], responder: bob + ["--continue-from", path("c1.r")])
    XCTAssertEqual(continued.initiator.status, 0, continued.initiator.stderr)
    XCTAssertEqual(continued.responder.status, 0, continued.responder.stderr)
    let sid = sessionID(continued.initiator.stderr, "sc-handshake: continues session ")
    XCTAssertNotNil(sid, continued.initiator.stderr)
    XCTAssertEqual(sessionID(continued.responder.stderr, "sc-handshake: continues session "), sid)

    // An initiator that does not continue: a new session, which the responder reports as such.
    let fresh = try handshake("s3", initiator: alice, responder: bob + ["--continue-from", path("c1.r")])
    XCTAssertEqual(fresh.initiator.status, 0, fresh.initiator.stderr)
    XCTAssertEqual(fresh.responder.status, 0, fresh.responder.stderr)
    XCTAssertTrue(fresh.responder.stderr.contains("new session: it does not continue session \(sid ?? "?")"))
    XCTAssertFalse(fresh.responder.stderr.contains("continues session"))

    // A responder without the secret (restarted, or a holder of the key who is not bob) cannot
    // complete an initiator's continued handshake: neither side writes a session.
    let stranger = try handshake("s4", initiator: alice + ["--continue-from", path("c1.i")], responder: bob)
    XCTAssertEqual(stranger.initiator.status, 1, stranger.initiator.stderr)
    XCTAssertEqual(stranger.responder.status, 1, stranger.responder.stderr)
    XCTAssertTrue(
      stranger.initiator.stderr.contains("did not prove that it continues session \(sid ?? "?")"),
      stranger.initiator.stderr)
    // The responder sent the abort: the class is `rejected`, and the message starts with its words.
    XCTAssertTrue(
      stranger.initiator.stderr.hasPrefix("sc-handshake: error: rejected by the peer: "), stranger.initiator.stderr)
    XCTAssertFalse(stranger.initiator.wroteSession || stranger.responder.wroteSession)

    // One bit of the initiator's secret changed: the continuation fails on both sides.
    var bytes = try Data(contentsOf: URL(fileURLWithPath: path("c1.i")))
    bytes[30] ^= 0x01
    try bytes.write(to: URL(fileURLWithPath: path("c1.flipped")))
    XCTAssertEqual(chmod(path("c1.flipped"), 0o600), 0)
    let flipped = try handshake(
      "s5", initiator: alice + ["--continue-from", path("c1.flipped")],
      responder: bob + ["--continue-from", path("c1.r")])
    XCTAssertEqual(flipped.initiator.status, 1, flipped.initiator.stderr)
    XCTAssertEqual(flipped.responder.status, 1, flipped.responder.stderr)
    XCTAssertFalse(flipped.initiator.wroteSession || flipped.responder.wroteSession)
  }

  func testAContinuationFileThatDoesNotFitIsRefusedBeforeAnythingIsSent() throws {
    let key = path("dave.key")
    let first = try handshake(
      "m1", initiator: ["--initiator", "-k", key, "-n", "alice", "--continuation-to", path("m.i")],
      responder: ["--responder", "-k", key, "-n", "bob"])
    XCTAssertEqual(first.initiator.status, 0, first.initiator.stderr)
    func refused(_ arguments: [String], _ message: String, line: UInt = #line) throws {
      let result = try ToolRunner.run("sc-handshake", arguments + ["-o", path("never.session")])
      XCTAssertEqual(result.status, 2, result.stderr, line: line)
      XCTAssertTrue(result.stderr.hasPrefix("sc-handshake: error: \(message)"), result.stderr, line: line)
      XCTAssertTrue(result.stdout.isEmpty, "nothing was sent", line: line)
      XCTAssertFalse(FileManager.default.fileExists(atPath: path("never.session")), line: line)
    }
    let file = path("m.i")
    try refused(
      ["--responder", "-k", key, "-n", "alice", "--continue-from", file],
      "\(file) continues a session in which this side was the initiator")
    try refused(
      ["--initiator", "-k", key, "-n", "carol", "--continue-from", file],
      "\(file) continues a session in which this side was 'alice', not 'carol'")
    try refused(
      ["--initiator", "-k", key, "-n", "alice", "--peer-name", "dave", "--continue-from", file],
      "\(file) continues a session with 'bob', not 'dave'")
    try refused(
      ["--responder", "--peers", path("peers"), "-n", "bob", "--continue-from", file],
      "--continue-from cannot be used with --peers")
    try refused(
      ["--initiator", "-k", key, "-n", "alice", "--continue-from", key],
      "invalid key file \(key): not a valid continuation file: bad magic")
    XCTAssertEqual(chmod(file, 0o640), 0)
    try refused(
      ["--initiator", "-k", key, "-n", "alice", "--continue-from", file],
      "continuation file \(file) is accessible by others")
  }

  /// Issue 12, finding 3: with one key for both roles and no name required, a user's initiator
  /// reached the same user's responder and both succeeded. A peer with one's own name is refused.
  func testAPeerGivingThisSidesOwnNameIsRefused() throws {
    let key = path("dave.key")
    let selfie = try handshake(
      "self", initiator: ["--initiator", "-k", key, "-n", "alice"],
      responder: ["--responder", "-k", key, "-n", "alice"])
    XCTAssertEqual(selfie.responder.status, 1, selfie.responder.stderr)
    XCTAssertTrue(
      selfie.responder.stderr.contains("the peer authenticated with this side's own name 'alice'"),
      selfie.responder.stderr)
    XCTAssertEqual(selfie.initiator.status, 1, selfie.initiator.stderr)
    XCTAssertFalse(selfie.initiator.wroteSession || selfie.responder.wroteSession)
  }
}
