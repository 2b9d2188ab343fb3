import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// A session file is good for one `sc-seal -s` and one `sc-open -s` (issue 12, finding 5;
/// PROTOCOL.md §5, §6.4): each zeroes the keys of its direction in the file before its first
/// frame, a second run with the same file is refused (status 2), and the second claim removes the
/// file. So a recorded stream replayed into a second `sc-open -s` gets no plaintext out.
final class SessionClaimTests: XCTestCase {
  private var directory = ""
  private let aliceToBob = FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32))
  private let bobToAlice = FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32))
  private let messages = Data("one\ntwo\nthree\n".utf8)

  override func setUpWithError() throws {
    try super.setUpWithError()
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("sc-claim-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for name in ["alice", "bob"] {
      XCTAssertTrue(
        FileManager.default.createFile(
          atPath: path("\(name).session"), contents: Data(sessionBytes(name)), attributes: [.posixPermissions: 0o600]))
    }
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(atPath: directory)
    try super.tearDownWithError()
  }

  private func path(_ name: String) -> String { directory + "/" + name }

  private func session(_ name: String) -> SessionSecrets {
    SessionSecrets(
      role: name == "alice" ? .initiator : .responder, sessionID: [UInt8](repeating: 1, count: 16),
      localName: Array(name.utf8), peerName: Array((name == "alice" ? "bob" : "alice").utf8),
      transcriptHash: [UInt8](repeating: 2, count: 32), verificationCode: "000 000 000 000",
      send: name == "alice" ? aliceToBob : bobToAlice, receive: name == "alice" ? bobToAlice : aliceToBob)
  }

  private func sessionBytes(_ name: String) -> [UInt8] { SessionFile.serialize(session(name)).copyForTesting() }

  private func contents(_ name: String) -> [UInt8]? { FileManager.default.contents(atPath: path(name)).map(Array.init) }

  private func assertRefused(
    _ result: ToolResult, _ tool: String, _ file: String, for use: String, line: UInt = #line
  ) {
    XCTAssertEqual(result.status, 2, result.stderr, line: line)
    XCTAssertEqual(result.stdout, Data(), "nothing is written", line: line)
    XCTAssertTrue(
      result.stderr.hasPrefix(
        "\(tool): error: session file \(file) was already used for \(use): run a new handshake\n"),
      result.stderr, line: line)
  }

  // MARK: - The session file

  func testParseKeepsOneDirectionAndSeesAClaim() throws {
    var bytes = sessionBytes("alice")
    let send = try bytes.withUnsafeBytes { try SessionFile.parse($0, direction: .send) }
    XCTAssertTrue(send.keys.encryption.constantTimeEquals(aliceToBob.encryption))
    XCTAssertTrue(send.keys.authentication.constantTimeEquals(aliceToBob.authentication))
    let receive = try bytes.withUnsafeBytes { try SessionFile.parse($0, direction: .receive) }
    XCTAssertTrue(receive.keys.encryption.constantTimeEquals(bobToAlice.encryption))
    XCTAssertTrue(receive.keys.authentication.constantTimeEquals(bobToAlice.authentication))
    XCTAssertEqual(SessionFile.keyRange(of: .send), 56..<120)
    XCTAssertEqual(SessionFile.keyRange(of: .receive), 120..<184)
    for direction in [OneWaySession.Direction.send, .receive] {
      XCTAssertFalse(bytes.withUnsafeBytes { SessionFile.isClaimed($0, direction: direction) })
    }
    bytes.replaceSubrange(56..<120, with: [UInt8](repeating: 0, count: 64))
    XCTAssertTrue(bytes.withUnsafeBytes { SessionFile.isClaimed($0, direction: .send) })
    XCTAssertFalse(bytes.withUnsafeBytes { SessionFile.isClaimed($0, direction: .receive) })
    // One zero key is not a claim: both keys of the direction are zero.
    bytes.replaceSubrange(120..<152, with: [UInt8](repeating: 0, count: 32))
    XCTAssertFalse(bytes.withUnsafeBytes { SessionFile.isClaimed($0, direction: .receive) })
    // A claimed file is still a valid one.
    XCTAssertNoThrow(try bytes.withUnsafeBytes { try SessionFile.parse($0) })
  }

  // MARK: - The tools

  /// The first sc-seal -s and the first sc-open -s work; a second of either is refused with
  /// status 2, writes nothing, and leaves the file as it was.
  func testSecondSealAndSecondOpenAreRefused() throws {
    let sealed = try ToolRunner.run("sc-seal", ["-s", path("alice.session")], stdin: .bytes(messages))
    XCTAssertEqual(sealed.status, 0, sealed.stderr)
    // Alice's send keys are zero in her file; her receive keys are untouched.
    var expected = sessionBytes("alice")
    expected.replaceSubrange(56..<120, with: [UInt8](repeating: 0, count: 64))
    XCTAssertEqual(contents("alice.session"), expected)
    let again = try ToolRunner.run("sc-seal", ["-s", path("alice.session")], stdin: .bytes(messages))
    assertRefused(again, "sc-seal", path("alice.session"), for: "sending")
    XCTAssertEqual(contents("alice.session"), expected)

    let opened = try ToolRunner.run("sc-open", ["-s", path("bob.session")], stdin: .bytes(sealed.stdout))
    XCTAssertEqual(opened.status, 0, opened.stderr)
    XCTAssertEqual(opened.stdout, messages)
    let reopened = try ToolRunner.run("sc-open", ["-s", path("bob.session")], stdin: .bytes(sealed.stdout))
    assertRefused(reopened, "sc-open", path("bob.session"), for: "receiving")

    // Bob's other direction is still his to use, once.
    let reply = try ToolRunner.run("sc-seal", ["-s", path("bob.session")], stdin: .bytes(Data("ok\n".utf8)))
    XCTAssertEqual(reply.status, 0, reply.stderr)
    XCTAssertNil(contents("bob.session"), "both directions used: the file is removed")
  }

  /// A recorded stream replayed into a second sc-open -s with the same session file gets no
  /// plaintext out: the first sc-open claimed the receive keys before it showed anything.
  func testReplayedStreamGetsNoPlaintextOut() throws {
    let recorded = try ToolRunner.run("sc-seal", ["-s", path("alice.session")], stdin: .bytes(messages))
    XCTAssertEqual(recorded.status, 0, recorded.stderr)
    let first = try ToolRunner.run("sc-open", ["-s", path("bob.session")], stdin: .bytes(recorded.stdout))
    XCTAssertEqual(first.status, 0, first.stderr)
    XCTAssertEqual(first.stdout, messages)
    let replayed = try ToolRunner.run("sc-open", ["-s", path("bob.session")], stdin: .bytes(recorded.stdout))
    assertRefused(replayed, "sc-open", path("bob.session"), for: "receiving")
    // Also when the first sc-open failed (here: the stream was cut): it had claimed the keys.
    XCTAssertTrue(
      FileManager.default.createFile(
        atPath: path("carol.session"), contents: Data(sessionBytes("bob")), attributes: [.posixPermissions: 0o600]))
    let cut = try ToolRunner.run(
      "sc-open", ["-s", path("carol.session")], stdin: .bytes(recorded.stdout.prefix(recorded.stdout.count - 10)))
    XCTAssertEqual(cut.status, 1, cut.stderr)
    let again = try ToolRunner.run("sc-open", ["-s", path("carol.session")], stdin: .bytes(recorded.stdout))
    assertRefused(again, "sc-open", path("carol.session"), for: "receiving")
  }

  /// A usage error found after the session file is read does not use it up: the claim is made
  /// once everything has been checked, just before the first frame.
  func testUsageErrorDoesNotUseUpTheSession() throws {
    let bad = try ToolRunner.run(
      "sc-open", ["-s", path("bob.session"), "--receipts-to", path("shown"), "-o", path("out")], stdin: .none)
    XCTAssertEqual(bad.status, 2, bad.stderr)
    let missing = try ToolRunner.run("sc-seal", ["-s", path("alice.session"), path("no-such-input")])
    XCTAssertEqual(missing.status, 2, missing.stderr)
    XCTAssertEqual(contents("alice.session"), sessionBytes("alice"))
    XCTAssertEqual(contents("bob.session"), sessionBytes("bob"))
  }

  /// The way sc-chat passes a session: the file is unlinked at once and the tools get /dev/fd/N
  /// of a descriptor the shell holds. Opening /dev/fd/N reopens the same (unlinked) file, so the
  /// claims work there too. A session read from a pipe cannot be claimed: that is the limit.
  func testClaimThroughADescriptorAndNotThroughAPipe() throws {
    let q = ToolRunner.shellQuoted
    try Data(messages).write(to: URL(fileURLWithPath: path("messages")))
    let script = """
      exec 3<\(q(path("alice.session"))) && rm \(q(path("alice.session"))) || exit 9
      "$SEAL" -s /dev/fd/3 \(q(path("messages"))) >\(q(path("first.sc"))) 2>\(q(path("first.err"))); echo "first $?"
      "$SEAL" -s /dev/fd/3 \(q(path("messages"))) >\(q(path("second.sc"))) 2>\(q(path("second.err"))); echo "second $?"
      cat <&3 | od -An -v -tx1 | tr -d ' \\n' >\(q(path("left"))) 3<&-
      cat \(q(path("bob.session"))) | "$SEAL" -s /dev/fd/3 \(q(path("messages"))) 3<&0 >/dev/null 2>&1; echo "pipe $?"
      cat \(q(path("bob.session"))) | "$SEAL" -s /dev/fd/3 \(q(path("messages"))) 3<&0 >/dev/null 2>&1; echo "pipe $?"
      """
    let result = try ToolRunner.runExecutable(
      "/bin/sh", ["-c", script], stdin: .none, environment: ["SEAL": try ToolRunner.path(of: "sc-seal")])
    XCTAssertEqual(String(decoding: result.stdout, as: UTF8.self), "first 0\nsecond 2\npipe 0\npipe 0\n", result.stderr)
    XCTAssertTrue(
      (try String(contentsOfFile: path("second.err"), encoding: .utf8)).hasPrefix(
        "sc-seal: error: session file /dev/fd/3 was already used for sending: run a new handshake\n"))
    // What the descriptor still reads: the send keys are zero.
    var expected = sessionBytes("alice")
    expected.replaceSubrange(56..<120, with: [UInt8](repeating: 0, count: 64))
    XCTAssertEqual(
      try String(contentsOfFile: path("left"), encoding: .utf8), expected.map { String(format: "%02x", $0) }.joined())
    let opened = try ToolRunner.run("sc-open", ["-s", path("bob.session"), path("first.sc")])
    XCTAssertEqual(opened.status, 0, opened.stderr)
    XCTAssertEqual(opened.stdout, messages)
  }

  /// Claiming writes to the file: one that cannot be opened for writing is refused (status 2)
  /// before anything is sent. As root (which may write any file) the tool runs without the
  /// capabilities that bypass file permissions.
  func testReadOnlySessionFileIsRefused() throws {
    chmod(path("alice.session"), 0o400)
    var prefix: [String] = []
    if geteuid() == 0 {
      guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
        throw XCTSkip("running as root without setpriv: a mode 0400 file is writable")
      }
      prefix = ["/usr/bin/setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--"]
    }
    let tool = try ToolRunner.path(of: "sc-seal")
    let result = try ToolRunner.runExecutable(
      prefix.first ?? tool, Array(prefix.dropFirst()) + (prefix.isEmpty ? [] : [tool]) + ["-s", path("alice.session")],
      stdin: .bytes(messages))
    XCTAssertEqual(result.status, 2, result.stderr)
    XCTAssertEqual(result.stdout, Data())
    XCTAssertTrue(
      result.stderr.hasPrefix(
        "sc-seal: error: cannot open session file \(path("alice.session")) for writing: permission denied\n"),
      result.stderr)
    XCTAssertEqual(contents("alice.session"), sessionBytes("alice"))
  }
}
