import Foundation
import XCTest

/// The tools' messages say what a reader needs (issue 13, "error messages"): an I/O error names
/// its file, a frame that fails after a verified header is tampering and not "a wrong key",
/// sc-logcheck counts in English, and its --state failures name the state file.
final class DiagnosticMessageTests: XCTestCase {
  private var directory = ""

  override func setUpWithError() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("sc-diag-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(atPath: directory)
  }

  private func write(_ name: String, _ bytes: [UInt8], mode: Int = 0o600) -> String {
    let path = directory + "/" + name
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: mode])
    return path
  }

  // MARK: - I/O errors name the file

  /// /proc/self/mem opens, but reading it at offset 0 fails with EIO: a read error on a file
  /// that exists. Each tool must say which file it could not read.
  func testAReadErrorNamesTheFile() throws {
    try XCTSkipUnless(FileManager.default.fileExists(atPath: "/proc/self/mem"), "needs /proc/self/mem")
    let key = write("k.key", Array(("securechat-key-v1 psk " + String(repeating: "ab", count: 32) + "\n").utf8))
    let verify = write(
      "v.key", Array(("securechat-key-v1 log-verify " + String(repeating: "cd", count: 32) + "\n").utf8))
    let cases: [(String, [String], String)] = [
      ("sc-seal", ["-k", key, "/proc/self/mem"], "sc-seal: error: cannot read /proc/self/mem: "),
      ("sc-open", ["-k", key, "/proc/self/mem"], "sc-open: error: cannot read /proc/self/mem: "),
      ("sc-keygen", ["-y", "/proc/self/mem"], "sc-keygen: error: cannot read key file /proc/self/mem: "),
      // sc-logcheck reads a regular file only up to its size (0 here): a directory fails its read.
      ("sc-logcheck", ["-k", verify, directory], "sc-logcheck: error: cannot read the log \(directory): "),
    ]
    for (tool, arguments, expected) in cases {
      let result = try ToolRunner.run(tool, arguments)
      XCTAssertEqual(result.status, 2, "\(tool): \(result.stderr)")
      XCTAssertTrue(result.stderr.hasPrefix(expected), "\(tool): \(result.stderr)")
      XCTAssertFalse(result.stderr.contains("read failed"), "\(tool): \(result.stderr)")
    }
  }

  // MARK: - "wrong key" only where the key can be the cause

  /// The header verified, so the key is right: a frame that fails its tag was tampered with.
  /// A header that fails its tag may be a wrong key.
  func testOnlyTheHeaderBlamesTheKey() throws {
    for (name, blamesKey) in [
      ("frame-tag-flipped-crc-fixed", false), ("frame-ciphertext-flipped-crc-fixed", false),
      ("wrong-key", true), ("header-tag-flipped", true),
    ] {
      let vector = try TestVector(path: TestVector.directory + "/sealed-file/\(name).vector")
      let key = write(
        "\(name).key", Array(("securechat-key-v1 psk " + vector.fields["key"]! + "\n").utf8))
      let result = try ToolRunner.run("sc-open", ["-k", key], stdin: .bytes(Data(vector.data)))
      XCTAssertEqual(result.status, 1, "\(name): \(result.stderr)")
      XCTAssertTrue(result.stderr.hasPrefix("sc-open: error: authentication failed: "), "\(name): \(result.stderr)")
      XCTAssertEqual(result.stderr.contains("wrong key"), blamesKey, "\(name): \(result.stderr)")
      if !blamesKey { XCTAssertTrue(result.stderr.contains("tampered with"), "\(name): \(result.stderr)") }
    }
  }

  /// Issue 14: a reserved byte set under a valid tag is `unsupported` (FORMATS.md §2.3 step 6)
  /// and the message names that byte, not the flags (which are 1, the final flag, there).
  func testAReservedByteIsNamedAsSuch() throws {
    let vector = try TestVector(path: TestVector.directory + "/sealed-file/frame-reserved-byte-under-valid-tag.vector")
    let key = write("r.key", Array(("securechat-key-v1 psk " + vector.fields["key"]! + "\n").utf8))
    let result = try ToolRunner.run("sc-open", ["-k", key], stdin: .bytes(Data(vector.data)))
    XCTAssertEqual(result.status, 2, result.stderr)
    XCTAssertTrue(result.stderr.hasPrefix("sc-open: error: unsupported frame reserved byte "), result.stderr)
    XCTAssertFalse(result.stderr.contains("flags"), result.stderr)
  }

  // MARK: - sc-logcheck

  private let verifyKeyHex = "232e39444f5a65707b86919ca7b2bdc8d3dee9f4ff0a15202b36414c57626d78"

  /// A log sealed with the formulas of FORMATS.md §9.3 from `kinds` (one entry each, sessions
  /// by number).
  private func log(_ entries: [(kind: String, session: Int)]) throws -> [UInt8] {
    let bodies = entries.enumerated().map { index, entry in
      let sid = String(repeating: String(format: "%02x", entry.session), count: 16)
      let seq = entry.kind.hasSuffix("open") || entry.kind.hasSuffix("close") ? "-" : "0"
      return Array("\(index) 2026-01-01T00:00:00.000000Z \(entry.kind) \(sid) bob \(seq) text".utf8)
    }
    return try ReferenceLog.seal(bodies, verifyKey: [UInt8](hexString: verifyKeyHex)!)
  }

  private func verifyKey() -> String {
    write("chat.verify", Array("securechat-key-v1 log-verify \(verifyKeyHex)\n".utf8))
  }

  /// FORMATS.md §9.4: "1 session direction", "2 session directions"; several files on one line.
  func testOpenSessionDirectionsAreCountedInEnglish() throws {
    let key = verifyKey()
    let one = write("one.log", try log([("send-open", 1), ("sent", 1)]))
    var result = try ToolRunner.run("sc-logcheck", ["-k", key, one])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(
      String(decoding: result.stdout, as: UTF8.self),
      "\(one): 2 entries verified; 1 session direction not closed (still running, or stopped)\n")
    // Two directions of one session, and a direction of another that was closed.
    let entries: [(kind: String, session: Int)] = [
      ("send-open", 1), ("receive-open", 1), ("send-open", 2), ("send-close", 2),
    ]
    let all = try log(entries)
    let lines = ReferenceLog.lines(all)
    let first = write("two.log.1", lines[0...1].flatMap { $0 + [0x0a] })
    let second = write("two.log", lines[2...].flatMap { $0 + [0x0a] })
    result = try ToolRunner.run("sc-logcheck", ["-k", key, first, second])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(
      String(decoding: result.stdout, as: UTF8.self),
      "\(first) \(second): 4 entries verified; 2 session directions not closed (still running, or stopped)\n")
  }

  /// Each failure that comes from the state file says which state file it compared with.
  func testStateFailuresNameTheStateFile() throws {
    let key = verifyKey()
    let full = try log([("send-open", 1), ("sent", 1), ("sent", 1), ("send-close", 1)])
    let logPath = write("chat.log", full)
    let state = directory + "/audit.state"
    XCTAssertEqual(try ToolRunner.run("sc-logcheck", ["-k", key, "--state", state, "-q", logPath]).status, 0)

    let cut = write("cut.log", Array(full.prefix(ReferenceLog.lines(full)[0...1].reduce(0) { $0 + $1.count + 1 })))
    var result = try ToolRunner.run("sc-logcheck", ["-k", key, "--state", state, cut])
    XCTAssertEqual(result.status, 1, result.stderr)
    XCTAssertTrue(result.stderr.contains(": truncated: "), result.stderr)
    XCTAssertTrue(result.stderr.contains("(state file \(state))"), result.stderr)

    // The same number of entries, but another log: entry 3 is not the one verified.
    let other = write("other.log", try log([("send-open", 1), ("sent", 1), ("sent", 1), ("send-close", 2)]))
    result = try ToolRunner.run("sc-logcheck", ["-k", key, "--state", state, other])
    XCTAssertEqual(result.status, 1, result.stderr)
    XCTAssertTrue(result.stderr.contains(": rolled-back: "), result.stderr)
    XCTAssertTrue(result.stderr.contains("(state file \(state))"), result.stderr)

    // A state file that is not one names itself too.
    let bad = write("bad.state", Array("hello\n".utf8))
    result = try ToolRunner.run("sc-logcheck", ["-k", key, "--state", bad, logPath])
    XCTAssertEqual(result.status, 2, result.stderr)
    XCTAssertTrue(result.stderr.contains(bad), result.stderr)
  }
}
