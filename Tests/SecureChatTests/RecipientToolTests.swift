import Foundation
import XCTest

@testable import SecureChatProtocol

/// sc-seal -r/-R [-i] and sc-open -i [--from] as a user runs them (FORMATS.md §12.2): one and three
/// recipients, binary and armored, to a file and to standard output; a non-recipient, a wrong
/// or anonymous sender under --from, and every byte of a header, stanza or trailer changed.
final class RecipientToolTests: XCTestCase {
  private var directory = ""
  private var keys: [String: String] = [:]

  override func setUpWithError() throws {
    directory = NSTemporaryDirectory() + "recipient-tools-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for name in ["alice", "bob", "carol", "dave", "mallory"] {
      let made = try ToolRunner.run("sc-keygen", ["--identity", "-o", path(name)])
      XCTAssertEqual(made.status, 0, made.stderr)
      keys[name] = String(decoding: made.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(atPath: directory)
  }

  private func path(_ name: String) -> String { directory + "/" + name }

  private func seal(_ plaintext: Data, _ arguments: [String]) throws -> Data {
    let result = try ToolRunner.run("sc-seal", arguments, stdin: .bytes(plaintext))
    XCTAssertEqual(result.status, 0, result.stderr)
    return result.stdout
  }

  private func open(_ sealed: Data, _ arguments: [String]) throws -> ToolResult {
    try ToolRunner.run("sc-open", arguments, stdin: .bytes(sealed))
  }

  func testOneAndThreeRecipientsEachOpenWhatWasSealed() throws {
    let inputs = [Data(), Data("one line\n".utf8), Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })]
    for plaintext in inputs {
      for recipients in [["bob"], ["bob", "carol", "dave"]] {
        for armored in [false, true] {
          let arguments = recipients.flatMap { ["-r", keys[$0]!] } + (armored ? ["-a"] : [])
          let sealed = try seal(plaintext, arguments)
          XCTAssertEqual(sealed.prefix(armored ? 5 : 7), armored ? Data("-----".utf8) : Data("SCSEAL".utf8) + [2])
          for recipient in recipients {
            let opened = try open(sealed, ["-i", path(recipient)])
            XCTAssertEqual(opened.status, 0, "\(recipient): \(opened.stderr)")
            XCTAssertEqual(opened.stdout, plaintext, "\(recipient), \(plaintext.count) bytes, armored \(armored)")
            XCTAssertTrue(opened.stderr.contains("the sender is anonymous"), opened.stderr)
          }
          let outsider = try open(sealed, ["-i", path("mallory")])
          XCTAssertEqual(outsider.status, 1, outsider.stderr)
          XCTAssertTrue(outsider.stderr.contains("authentication failed"), outsider.stderr)
          XCTAssertTrue(outsider.stdout.isEmpty)
        }
      }
    }
  }

  func testANonRecipientGetsNoOutputFile() throws {
    let sealed = try seal(Data("secret\n".utf8), ["-r", keys["bob"]!])
    try sealed.write(to: URL(fileURLWithPath: path("in.sc")))
    let result = try ToolRunner.run("sc-open", ["-i", path("carol"), "-o", path("out")], stdin: .file(path("in.sc")))
    XCTAssertEqual(result.status, 1, result.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: path("out")))
    let good = try ToolRunner.run("sc-open", ["-i", path("bob"), "-o", path("out")], stdin: .file(path("in.sc")))
    XCTAssertEqual(good.status, 0, good.stderr)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("out"))), Data("secret\n".utf8))
  }

  func testFromAcceptsOnlyTheSenderThatSealedIt() throws {
    let plaintext = Data("from alice\n".utf8)
    let sealed = try seal(plaintext, ["-r", keys["bob"]!, "-r", keys["carol"]!, "-i", path("alice")])
    for recipient in ["bob", "carol"] {
      let right = try open(sealed, ["-i", path(recipient), "--from", keys["alice"]!])
      XCTAssertEqual(right.status, 0, right.stderr)
      XCTAssertEqual(right.stdout, plaintext)
      XCTAssertTrue(right.stderr.contains("sealed by \(keys["alice"]!)"), right.stderr)
      let wrong = try open(sealed, ["-i", path(recipient), "--from", keys["mallory"]!])
      XCTAssertEqual(wrong.status, 1, wrong.stderr)
      XCTAssertTrue(wrong.stderr.contains("error: authentication failed: not sealed by"), wrong.stderr)
      // The file names another sender, which is known before any frame: nothing is released.
      XCTAssertTrue(wrong.stdout.isEmpty)
    }
    // An anonymous file never passes --from, and releases nothing either.
    let anonymous = try seal(plaintext, ["-r", keys["bob"]!])
    let result = try open(anonymous, ["-i", path("bob"), "--from", keys["alice"]!])
    XCTAssertEqual(result.status, 1, result.stderr)
    XCTAssertTrue(result.stdout.isEmpty)
  }

  /// Every byte of an authenticated file for two recipients (header, stanzas, frame, trailer)
  /// changed in turn. A change before the trailer fails for both (the header tag and the frames
  /// bind everything there); a change inside a proof fails for the recipient that proof is for:
  /// each recipient checks its own proof only (FORMATS.md §12.2), so Bob and Carol never both open
  /// a changed file, and never with the wrong sender.
  func testEveryChangedByteFails() throws {
    let plaintext = Data("a short message\n".utf8)
    let sealed = try seal(plaintext, ["-r", keys["bob"]!, "-r", keys["carol"]!, "-i", path("alice")])
    let trailerStart = 41 + 2 * 148 + 32 + 84 + 16
    XCTAssertEqual(sealed.count, trailerStart + 2 * 32)
    var openedByOne = 0
    for position in 0..<sealed.count {
      var damaged = sealed
      damaged[position] ^= 0x04
      // Before the trailer Bob alone is asked (Carol's view is the same file); in it, both.
      let statuses = try (position < trailerStart ? ["bob"] : ["bob", "carol"]).map { recipient -> Int32 in
        let result = try open(damaged, ["-i", path(recipient), "--from", keys["alice"]!])
        if result.status == 0 { XCTAssertEqual(result.stdout, plaintext, "byte \(position)") }
        return result.status
      }
      if position < trailerStart {
        XCTAssertFalse(statuses.contains(0), "byte \(position) changed, and the file still opened: \(statuses)")
      } else {
        XCTAssertEqual(statuses.filter { $0 == 0 }.count, 1, "byte \(position) of the trailer: \(statuses)")
        openedByOne += 1
      }
    }
    XCTAssertEqual(openedByOne, 64)
  }

  func testUsageErrors() throws {
    let keyMade = try ToolRunner.run("sc-keygen", ["-o", path("psk")])
    XCTAssertEqual(keyMade.status, 0)
    var many = ""
    for _ in 0..<65 {
      let made = try ToolRunner.run("sc-keygen", ["--identity", "-o", path("id-\(UUID().uuidString)")])
      many += String(decoding: made.stdout, as: UTF8.self)
    }
    try many.write(toFile: path("many"), atomically: true, encoding: .utf8)
    try "\(keys["bob"]!)\nscpub1notakey\n".write(toFile: path("bad"), atomically: true, encoding: .utf8)
    for (arguments, words) in [
      (["-k", path("psk"), "-r", keys["bob"]!], "cannot"),
      (["-R", path("many")], "64"),
      (["-R", path("bad")], "line 2"),
      (["-r", "scpub1notakey"], "not a valid public key"),
      (["-i", path("alice")], "recipients"),
    ] {
      let result = try ToolRunner.run("sc-seal", arguments, stdin: .bytes(Data("x".utf8)))
      XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains(words), "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stdout.isEmpty, "\(arguments)")
    }
  }
}
