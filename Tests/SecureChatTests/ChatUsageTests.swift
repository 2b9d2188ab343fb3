import Foundation
import XCTest

/// sc-chat's usage errors are as terse as the Swift tools': one `sc-chat: error: …` line, the same
/// one-line hint the tools give, status 2, nothing on standard output (and no usage block).
final class ChatUsageTests: XCTestCase {
  static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("bin/sc-chat").path

  var home = ""

  override func setUpWithError() throws {
    var template = Array((NSTemporaryDirectory() + "/sc-chat-usage-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else { throw ToolRunnerError(description: "mkdtemp failed") }
    home = String(cString: made)
  }

  override func tearDownWithError() throws {
    if !home.isEmpty { try? FileManager.default.removeItem(atPath: home) }
  }

  /// sc-chat with the built tools on PATH, a HOME of its own (no peers file, no default key) and
  /// standard input not a terminal (so nothing is asked for).
  func chat(_ arguments: [String]) throws -> ToolResult {
    let binDirectory = (try ToolRunner.path(of: "sc-open") as NSString).deletingLastPathComponent
    return try ToolRunner.runExecutable(
      Self.script, arguments, stdin: .none,
      environment: ["PATH": binDirectory + ":/usr/bin:/bin", "HOME": home, "XDG_CONFIG_HOME": home + "/config"],
      timeout: 20)
  }

  func testUsageErrorsAreOneLineAndTheToolsHint() throws {
    // What the Swift tools print for a usage error: the error, then one hint.
    let seal = try ToolRunner.run("sc-seal", ["--bogus"])
    let sealLines = seal.stderr.split(separator: "\n", omittingEmptySubsequences: false)
    XCTAssertEqual(seal.status, 2)
    XCTAssertEqual(sealLines.count, 3, seal.stderr)
    let hint = sealLines[1].replacingOccurrences(of: "sc-seal:", with: "sc-chat:")

    let cases: [([String], String)] = [
      (["--bogus"], "unknown option --bogus"),
      (["-k"], "option -k needs a value"),
      (["--log"], "option --log needs a value"),
      ([], "say listen, connect, pipe or peers"),
      (["frob"], "unknown command 'frob'"),
      (["connect"], "no host given"),
      (["listen", "1", "2"], "listen takes one operand, PORT"),
      (["pipe", "initiator"], "pipe needs a role"),
      (["pipe", "sender", "cat"], "the role is initiator or responder, not 'sender'"),
      (["peers", "frob"], "peers takes add or remove, not 'frob'"),
      (["peers", "add", "bob"], "peers add takes PEER HOST PORT KEYFILE|PUBKEY [NAME]"),
      (["-n", "bad name", "listen", "7777"], "a name is 1 to 64 letters"),
      (["-n", "alice", "listen", "70000"], "the port is a number from 1 to 65535"),
      (["-n", "alice", "-t", "soon", "listen", "7777"], "the timeout is a whole number of seconds"),
      (["-n", "alice", "--log", "chat.log", "listen", "7777"], "--log and --log-key go together"),
    ]
    for (arguments, message) in cases {
      let result = try chat(arguments)
      let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: true)
      XCTAssertEqual(result.status, 2, "sc-chat \(arguments): \(result.stderr)")
      XCTAssertEqual(result.stdout.count, 0, "sc-chat \(arguments)")
      XCTAssertEqual(lines.count, 2, "sc-chat \(arguments): \(result.stderr)")
      XCTAssertTrue(
        lines.first?.hasPrefix("sc-chat: error: " + message) ?? false, "sc-chat \(arguments): \(result.stderr)")
      XCTAssertEqual(lines.last.map(String.init), hint, "sc-chat \(arguments)")
      XCTAssertFalse(result.stderr.contains("usage:"), "sc-chat \(arguments): \(result.stderr)")
    }
  }
}
