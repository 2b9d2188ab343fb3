import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// Edges where FORMATS.md and PROTOCOL.md used to leave a reader guessing (issue 14, gaps A–M),
/// checked against the tools where a vector cannot express them.
final class DocumentGapTests: XCTestCase {
  private var directory = ""

  override func setUpWithError() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("sc-gaps-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(atPath: directory)
  }

  @discardableResult
  private func write(_ name: String, _ bytes: [UInt8], mode: Int = 0o600) -> String {
    let path = directory + "/" + name
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: mode])
    return path
  }

  private let verifyKeyHex = "232e39444f5a65707b86919ca7b2bdc8d3dee9f4ff0a15202b36414c57626d78"

  /// Gap G, FORMATS.md §9.6: empty lines are skipped and not kept, another key's damaged line
  /// is neither checked nor repaired, and a key checked for the first time adds its line last.
  func testStateFileLinesOfOtherKeysAndEmptyLines() throws {
    let key = write("chat.verify", Array("securechat-key-v1 log-verify \(verifyKeyHex)\n".utf8))
    let body = Array("0 2026-01-01T00:00:00.000000Z send-open \(String(repeating: "01", count: 16)) bob - x".utf8)
    let log = write("chat.log", try ReferenceLog.seal([body], verifyKey: [UInt8](hexString: verifyKeyHex)!))
    let other = "securechat-logcheck-state-v1 SHA256:other +4 " + String(repeating: "A", count: 64)
    let state = write("audit.state", Array("\n\(other)\n\n".utf8))
    let result = try ToolRunner.run("sc-logcheck", ["-q", "-k", key, "--state", state, log])
    XCTAssertEqual(result.status, 0, result.stderr)
    let lines = try String(contentsOfFile: state, encoding: .utf8).split(
      separator: "\n", omittingEmptySubsequences: false)
    XCTAssertEqual(lines.count, 3, "\(lines)")
    XCTAssertEqual(String(lines[0]), other, "the other key's line, kept as it was")
    XCTAssertTrue(lines[1].hasPrefix("securechat-logcheck-state-v1 SHA256:"), "this key's new line, last")
    XCTAssertTrue(lines[1].contains(" 1 "), "\(lines[1])")
    XCTAssertEqual(lines[2], "", "every line ends in LF")
  }

  /// Gap C, FORMATS.md §9.4: the look-ahead of steps 3 and 4 is the next complete line of the
  /// same file. Entries 0, 2 | 1, 3 in two files: entry 2 is the last line of the first file,
  /// so entry 1 is not its next line and the defect is `deleted`, not `reordered`; the same
  /// when entry 1 follows without its LF.
  func testTheNextLineIsCompleteAndInTheSameFile() throws {
    let key = write("chat.verify", Array("securechat-key-v1 log-verify \(verifyKeyHex)\n".utf8))
    let bodies = (0..<4).map {
      Array("\($0) 2026-01-01T00:00:00.000000Z sent \(String(repeating: "01", count: 16)) bob \($0) x".utf8)
    }
    let lines = ReferenceLog.lines(try ReferenceLog.seal(bodies, verifyKey: [UInt8](hexString: verifyKeyHex)!))
    let first = write("a.log", lines[0] + [0x0a] + lines[2] + [0x0a])
    let second = write("b.log", lines[1] + [0x0a] + lines[3] + [0x0a])
    var result = try ToolRunner.run("sc-logcheck", ["-k", key, first, second])
    XCTAssertEqual(result.status, 1, result.stderr)
    XCTAssertTrue(result.stderr.hasPrefix("sc-logcheck: error: \(first): line 2: deleted: "), result.stderr)
    // In one file the same lines are two swapped entries.
    let swapped = write("swapped.log", [0, 2, 1, 3].flatMap { lines[$0] + [0x0a] })
    result = try ToolRunner.run("sc-logcheck", ["-k", key, swapped])
    XCTAssertTrue(result.stderr.hasPrefix("sc-logcheck: error: \(swapped): line 2: reordered: "), result.stderr)
    // The next line without its LF is no next line.
    let torn = write("torn.log", lines[0] + [0x0a] + lines[2] + [0x0a] + lines[1])
    result = try ToolRunner.run("sc-logcheck", ["-k", key, torn])
    XCTAssertTrue(result.stderr.hasPrefix("sc-logcheck: error: \(torn): line 2: deleted: "), result.stderr)
  }

  /// Gap A, FORMATS.md §4.2 rule 7: armor is read line by line, not decoded whole before the
  /// header checks. The old vector `armor-short-first-line` had two defects: its first body line
  /// lost a group (so a line follows a short one) and its bytes no longer start with the magic.
  /// Line by line, the magic fails first: `not-sealed`, from the library and from sc-open, read
  /// from a file (one read) or a pipe fed a line at a time.
  func testArmorIsReadLineByLine() throws {
    let good = try TestVector(path: TestVector.directory + "/sealed-file/good-armored-100-bytes.vector")
    var lines = String(decoding: good.data, as: UTF8.self).split(separator: "\n").map(String.init)
    lines[1] = String(lines[1].dropFirst(4))
    let input = Array((lines.joined(separator: "\n") + "\n").utf8)
    let secret = SecretBytes(copying: [UInt8](hexString: good.fields["key"]!)!)
    XCTAssertThrowsError(try SealedFile.open(input, fileKey: secret)) {
      XCTAssertEqual(($0 as? ProtocolError)?.vectorClass, "not-sealed", "\($0)")
    }
    let key = write("k.key", Array("securechat-key-v1 psk \(good.fields["key"]!)\n".utf8))
    let file = write("input", input)
    let whole = try ToolRunner.run("sc-open", ["-k", key], stdin: .file(file))
    XCTAssertEqual(whole.status, 2, whole.stderr)
    XCTAssertTrue(whole.stderr.hasPrefix("sc-open: error: input is not a sealed file"), whole.stderr)
    let script =
      "for l in " + lines.map { "'\($0)'" }.joined(separator: " ")
      + "; do printf '%s\\n' \"$l\"; sleep 0.05; done | \"$0\" -k \"$1\""
    let piped = try ToolRunner.runExecutable(
      "/bin/sh", ["-c", script, try ToolRunner.path(of: "sc-open"), key], stdin: .none)
    XCTAssertEqual(piped.status, 2, piped.stderr)
    XCTAssertTrue(piped.stderr.hasPrefix("sc-open: error: input is not a sealed file"), piped.stderr)
  }

  /// Gap F, FORMATS.md §9.5: the REASON of `failed: REASON` is the tool's error line without
  /// its prefix, starting with the words of its class.
  func testACloseEntrySaysWhyInTheToolsWords() throws {
    try ToolRunner.writeSessionPair(
      in: directory,
      aliceToBob: FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32)),
      bobToAlice: FrameKeys(encryption: .random(count: 32), authentication: .random(count: 32)))
    let seal = directory + "/chat.seal"
    let verify = directory + "/chat.verify"
    let log = directory + "/chat.log"
    XCTAssertEqual(try ToolRunner.run("sc-keygen", ["--log", "-o", seal, "--verify-key", verify]).status, 0)
    let result = try ToolRunner.run(
      "sc-open", ["-s", try ToolRunner.sessionCopy(directory + "/bob.session"), "--log", log, "--log-key", seal])
    XCTAssertEqual(result.status, 1, result.stderr)
    let error = try XCTUnwrap(result.stderr.split(separator: "\n").first { $0.hasPrefix("sc-open: error: ") })
    let reason = error.dropFirst("sc-open: error: ".count)
    XCTAssertTrue(reason.hasPrefix("input is truncated"), result.stderr)
    let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(lines.count, 2, "\(lines)")
    XCTAssertTrue(lines[1].contains(" receive-close "), "\(lines)")
    XCTAssertTrue(lines[1].contains(" - 0 messages; failed: \(reason) "), "\(lines[1])")
  }
}
