import Foundation
import XCTest

/// The fuzz targets (Sources/sc-fuzz, docs/TESTING.md) in the normal build are a replay tool: this
/// runs every target over its seed corpus made from docs/vectors, and over the committed inputs
/// that once crashed a target (Tests/FuzzRegressions/TARGET/). It also keeps the targets' fixed
/// keys in step with the vectors: the good vectors must get through the checks behind the keys.
final class FuzzReplayTests: XCTestCase {
  func fuzzTool() throws -> String {
    let path = try ToolRunner.path(of: "sc-fuzz")
    guard FileManager.default.isExecutableFile(atPath: path) else {
      throw ToolRunnerError(description: "\(path) is not built")
    }
    return path
  }

  /// Runs `target` over `path` (a file or directory); its outcome per input file name.
  func replay(_ target: String, _ path: String) throws -> [String: String] {
    let result = try ToolRunner.runExecutable(try fuzzTool(), [target, path], stdin: .none)
    XCTAssertEqual(result.status, 0, "\(target) on \(path): \(result.stderr)")
    var outcomes: [String: String] = [:]
    for line in String(decoding: result.stdout, as: UTF8.self).split(separator: "\n") {
      guard let separator = line.range(of: ": ") else { continue }
      outcomes[String(line[..<separator.lowerBound].split(separator: "/").last!)] = String(
        line[separator.upperBound...])
    }
    return outcomes
  }

  func testSeedCorporaReplay() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sc-fuzz-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let seeds = try ToolRunner.runExecutable(
      try fuzzTool(), ["--seeds", TestVector.directory, directory], stdin: .none)
    XCTAssertEqual(seeds.status, 0, seeds.stderr)
    let list = try ToolRunner.runExecutable(try fuzzTool(), ["--list"], stdin: .none)
    let targets = String(decoding: list.stdout, as: UTF8.self).split(separator: "\n").map {
      String($0.split(separator: "\t")[0])
    }
    XCTAssertGreaterThanOrEqual(targets.count, 15)
    var outcomes: [String: [String: String]] = [:]
    for target in targets {
      outcomes[target] = try replay(target, directory + "/" + target)
      XCTAssertGreaterThan(outcomes[target]?.count ?? 0, 0, "\(target): no seeds")
      // Every target sees inputs that pass and inputs that fail.
      XCTAssertTrue(outcomes[target]?.values.contains("success") ?? false, "\(target): no seed succeeds")
      XCTAssertTrue(outcomes[target]?.values.contains { $0 != "success" } ?? false, "\(target): no seed fails")
    }
    // Seeds that succeed only with the right keys and peers: the fixtures match the vectors.
    let expected: [(target: String, seedSuffix: String, outcome: String)] = [
      ("handshake-i2", "-good", "success"), ("handshake-r2", "-good", "success"),
      ("handshake-i2", "-i2-response-flipped", "authentication"),
      ("session-frames", "-good-three-messages", "success"),
      ("session-frames", "-replayed-frame-fixed", "out-of-order"),
      ("sealed-file", "-good-65537-bytes", "success"), ("sealed-file", "-good-armored-100-bytes", "success"),
      ("sealed-file", "-header-tag-flipped", "authentication"), ("sealed-file", "-header-tag-flipped-fixed", "success"),
      ("sealed-file", "-frame-tag-flipped-crc-fixed-fixed", "success"),
      ("recipient-file", "-good-authenticated-sender-from-alice", "success"),
      ("recipient-file", "-good-three-recipients", "success"),
      ("recipient-file", "-anonymous-with-from-from-alice", "authentication"),
      ("recipient-file", "-proof-flipped", "authentication"),
      ("log-verify", "-good-both-directions", "success"), ("log-verify", "-modified-text-fixed", "success"),
      ("log-verify", "-modified-text", "modified line 4"), ("session-file", "-responder", "success"),
      ("continuation-file", "-initiator", "success"), ("continuation-file", "-truncated", "invalid-key"),
      // The peer written from PROTOCOL.md: each entry's key with its own name, and no other.
      ("handshake-i2-keys", "-peer-key1-alice", "success"), ("handshake-i2-keys", "-peer-key2-carol", "success"),
      ("handshake-i2-keys", "-peer-key3-dave", "success"), ("handshake-i2-keys", "-peer-key2-alice", "authentication"),
      ("handshake-i2-keys", "-peer-key4-alice", "authentication"),
      ("peers-file", "-good-example", "success"), ("peers-file", "-duplicate-peer", "duplicate-peer line 4"),
      // The public log's fixed seed(0) is the vectors': re-signed checkpoints verify (FORMATS.md §9.8.7).
      ("public-log-verify", "-good-public-log", "success"),
      ("public-log-verify", "-public-entry-edited", "modified line 4"),
      ("public-log-verify", "-public-entry-edited-fixed", "forged line 6"),
      ("public-log-verify", "-public-entry-edited-signed", "success"),
      ("public-log-verify", "-public-uncertified-key-signed", "forged line 8"),
      ("public-log-verify", "-public-uncertified-key-certified", "success"),
      ("public-log-verify", "-public-checkpoint-malformed", "malformed line 6"),
    ]
    for (target, suffix, outcome) in expected {
      let matches = (outcomes[target] ?? [:]).filter { $0.key.hasSuffix(suffix) }
      XCTAssertEqual(matches.count, 1, "\(target): seed *\(suffix)")
      XCTAssertEqual(matches.first?.value, outcome, "\(target): seed *\(suffix)")
    }
  }

  func testCommittedRegressionInputsReplay() throws {
    let root = URL(fileURLWithPath: TestVector.directory).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Tests/FuzzRegressions").path
    let targets = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
    for target in targets.sorted() {
      let outcomes = try replay(target, root + "/" + target)
      XCTAssertGreaterThan(outcomes.count, 0, target)
    }
  }
}
