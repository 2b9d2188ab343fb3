import Foundation
import XCTest

@testable import SecureChatCLI

/// One version for everything: the file VERSION at the top of the tree is the source of truth;
/// the Swift tools' constant and bin/sc-chat's `readonly version=` are copies that must agree with
/// it, and every program answers `--version` with exactly `NAME X.Y.Z`.
final class VersionTests: XCTestCase {
  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// The contents of VERSION: one line, X.Y.Z.
  func versionFile() throws -> String {
    let text = try String(contentsOf: Self.repository.appendingPathComponent("VERSION"), encoding: .utf8)
    XCTAssertTrue(text.hasSuffix("\n"), "VERSION ends with a newline")
    let version = text.trimmingCharacters(in: .whitespacesAndNewlines)
    XCTAssertNotNil(
      version.range(of: #"^[0-9]+\.[0-9]+\.[0-9]+$"#, options: .regularExpression), "VERSION is X.Y.Z: '\(version)'")
    return version
  }

  func testTheCopiesAgreeWithTheVersionFile() throws {
    let version = try versionFile()
    XCTAssertEqual(SecureChatVersion.string, version, "Sources/SecureChatCLI/Version.swift differs from VERSION")
    for name in ["sc-chat", "sc-inbox"] {
      let script = try String(contentsOf: Self.repository.appendingPathComponent("bin/" + name), encoding: .utf8)
      let lines = script.split(separator: "\n").filter { $0.hasPrefix("readonly version=") }
      XCTAssertEqual(lines, ["readonly version=\(version)"], "bin/\(name)'s version differs from VERSION")
    }
  }

  func testEveryProgramPrintsItsNameAndTheOneVersion() throws {
    let version = try versionFile()
    for tool in ToolRunner.toolNames + ["sc-chat", "sc-inbox"] {
      let result =
        tool.hasPrefix("sc-chat") || tool == "sc-inbox"
        ? try ToolRunner.runExecutable(
          Self.repository.appendingPathComponent("bin/" + tool).path, ["--version"], stdin: .none)
        : try ToolRunner.run(tool, ["--version"])
      XCTAssertEqual(result.status, 0, "\(tool) --version: \(result.stderr)")
      XCTAssertEqual(String(decoding: result.stdout, as: UTF8.self), "\(tool) \(version)\n", "\(tool) --version")
      XCTAssertEqual(result.stderr, "", "\(tool) --version")
    }
  }
}
