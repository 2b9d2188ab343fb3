import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// Public log vectors (docs/vectors/public-log, docs/FORMATS.md §9.8.7): a good public log made
/// by the writer's own code (`PublicLogState.seal` and `sealCheckpoint`) from a fixed `seed(0)`
/// (bytes 0x00 to 0x1f), fixed times and fixed sessions, and the same log with one defect each.
///
///     kind: public-log
///     audit-key: scaudit1…
///     expect: success                        (entries, checkpoints, unsealed)
///     expect: error <defect-kind> line <n>
///     with-state: <count> <tag hex>          (public-cut-back: a state file's line, §9.6)
///     with-state-expect: error truncated line <n>
///
/// The data is the log file's bytes. VectorGenerator.testWriteVectors writes them with the
/// others; this test writes only these (SC_WRITE_PUBLIC_LOG_VECTORS=1).
final class PublicLogVectorGenerator: XCTestCase {
  func testWritePublicLogVectors() throws {
    try XCTSkipUnless(
      ProcessInfo.processInfo.environment["SC_WRITE_PUBLIC_LOG_VECTORS"] == "1", "set SC_WRITE_PUBLIC_LOG_VECTORS=1")
    let directory = TestVector.directory + "/public-log"
    try? FileManager.default.removeItem(atPath: directory)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for vector in try PublicLogVectors.all() {
      try TestVector.render(fields: vector.fields, data: vector.data).write(
        toFile: "\(directory)/\(vector.name).vector", atomically: true, encoding: .utf8)
    }
  }
}

extension VectorGenerator {
  func writePublicLogVectors(_ directory: String) throws {
    for vector in try PublicLogVectors.all() {
      try write(directory, vector.name, vector.fields, vector.data)
    }
  }
}

extension VectorTests {
  func checkPublicLog(_ vector: TestVector) throws {
    try PublicLogVectors.check(vector)
  }
}

enum PublicLogVectors {
  /// seed(0): bytes 0x00 to 0x1f (FORMATS.md §9.8.7).
  static let seed0 = (0..<32).map { UInt8($0) }
  static let sessionID = (0..<16).map { UInt8(truncatingIfNeeded: 0xc0 &+ $0 &* 3) }
  static let secondSessionID = (0..<16).map { UInt8(truncatingIfNeeded: 0x31 &+ $0 &* 7) }
  /// 2026-12-04T20:35:00Z.
  static let baseUnixTime: UInt64 = 1_796_416_500

  static func time(_ second: Int) -> String {
    let micro = String(4905 + second * 1111)
    return "2026-12-04T20:35:\(second < 10 ? "0" : "")\(second)."
      + String(repeating: "0", count: 6 - micro.count) + micro + "Z"
  }

  static func auditKey() throws -> AuditKey { try AuditKey(seed: SecretBytes(copying: seed0)) }

  struct Vector {
    let name: String
    let fields: [(String, String)]
    let data: [UInt8]
  }

  /// An entry to seal, or a checkpoint to seal at that second.
  enum Item {
    case entry(LogEntry)
    case checkpoint(second: Int)
  }

  /// The good log: one session direction with checkpoints 0, 1, 2, its close sealed by
  /// checkpoint 3, then the opening of another session and a message: 2 entries unsealed.
  static func items() -> [Item] {
    func entry(_ second: Int, _ kind: LogEntryKind, _ sequence: UInt64?, _ text: String, second session: Bool = false)
      -> Item
    {
      .entry(
        LogEntry(
          time: time(second), kind: kind, sessionID: session ? secondSessionID : sessionID,
          peer: Array((session ? "carol" : "bob").utf8), sequence: sequence, text: Array(text.utf8)))
    }
    return [
      entry(1, .sendOpen, nil, "local alice code 611 499 920 182"),
      entry(2, .sent, 0, "hello bob\n"),
      .checkpoint(second: 3),
      entry(4, .sent, 1, "a backslash \\ and a tab\t"),
      entry(5, .sent, 2, "third message"),
      .checkpoint(second: 6),
      entry(7, .sent, 3, "caf\u{e9} \u{1F510}"),
      .checkpoint(second: 8),
      entry(9, .sendClose, nil, "4 messages; final frame sent"),
      .checkpoint(second: 9),
      entry(11, .receiveOpen, nil, "local alice code 305 118 274 660", second: true),
      entry(12, .received, 0, "hi alice", second: true),
    ]
  }

  /// The lines (without their LF) that `state` writes for `items`.
  static func seal(_ items: [Item], state: PublicLogState) throws -> [[UInt8]] {
    try items.map { item in
      switch item {
      case .entry(let entry): return Array(state.seal(entry).dropLast())
      case .checkpoint(let second):
        return Array(
          try state.sealCheckpoint(time: time(second), unixTime: baseUnixTime + UInt64(second)).dropLast())
      }
    }
  }

  static func freshState(seed: [UInt8] = seed0) -> PublicLogState {
    PublicLogState(
      seed: SecretBytes(copying: seed), nextIndex: 0, previousTag: SessionLog.initialPreviousTag,
      checkpoint: CheckpointPosition(epoch: 0, sealedCount: 0, time: 0))
  }

  static func join(_ lines: [[UInt8]]) -> [UInt8] { lines.flatMap { $0 + [0x0a] } }

  static func tag(of line: [UInt8]) -> [UInt8] { [UInt8](hexString: String(decoding: line.suffix(64), as: UTF8.self))! }

  /// Every tag recomputed from the start (anyone can: SHA-256, §9.8.2); with `renumber`, each
  /// line's entry number made its position. Unchanged lines keep their tags.
  static func rechain(_ lines: [[UInt8]], renumber: Bool = false) -> [[UInt8]] {
    var previous = SessionLog.initialPreviousTag
    return lines.enumerated().map { position, line in
      var body = Array(line.dropLast(65))
      if renumber {
        let digits = body.prefix { $0 != UInt8(ascii: " ") }.count
        body.replaceSubrange(0..<digits, with: Array(String(position).utf8))
      }
      let tag = body.withUnsafeBytes { PublicLog.tag(body: $0, previousTag: previous) }
      previous = tag
      return body + Array(" \(tag.hexString)".utf8)
    }
  }

  static func replacing(_ line: [UInt8], _ old: String, _ new: String) -> [UInt8] {
    let text = String(decoding: line, as: UTF8.self)
    precondition(text.contains(old), "\(old) is not in the line")
    return Array(text.replacingOccurrences(of: old, with: new).utf8)
  }

  static func all() throws -> [Vector] {
    let items = items()
    let lines = try seal(items, state: freshState())
    let audit = try auditKey().text
    // Line numbers (from 1) of the checkpoints: 3, 6, 8, 10.
    let checkpointLines = items.indices.filter { if case .checkpoint = items[$0] { true } else { false } }.map {
      $0 + 1
    }
    precondition(checkpointLines == [3, 6, 8, 10])

    var vectors: [Vector] = []
    func good(_ name: String, _ lines: [[UInt8]], checkpoints: Int, unsealed: Int, extra: [(String, String)] = []) {
      vectors.append(
        Vector(
          name: name,
          fields: [
            ("kind", "public-log"), ("audit-key", audit), ("expect", "success"), ("entries", "\(lines.count)"),
            ("checkpoints", "\(checkpoints)"), ("unsealed", "\(unsealed)"),
          ] + extra, data: join(lines)))
    }
    func bad(_ name: String, _ kind: LogDefect.Kind, line: Int, _ lines: [[UInt8]]) {
      vectors.append(
        Vector(
          name: name,
          fields: [("kind", "public-log"), ("audit-key", audit), ("expect", "error \(kind.rawValue) line \(line)")],
          data: join(lines)))
    }

    good("good-public-log", lines, checkpoints: 4, unsealed: 2)

    // An entry's text changed: as written, its own tag no longer follows; with the chain
    // recomputed after it (anyone can), checkpoint 1 no longer verifies.
    var edited = lines
    edited[3] = replacing(edited[3], "a backslash", "a backslasH")
    bad("public-entry-edited", .modified, line: 4, edited)
    bad("public-entry-edited-rechained", .forged, line: 6, rechain(edited))

    var deleted = lines
    deleted.remove(at: 4)
    bad("public-entry-deleted", .deleted, line: 5, deleted)

    var swapped = lines
    swapped.swapAt(3, 4)
    bad("public-entries-swapped", .reordered, line: 4, swapped)

    // A line with the index of the real entry after it, chained from somewhere else (here from
    // the start of a log): the real entry follows the chain where it stands.
    var forgedLine = Array("3 \(time(4)) sent \(sessionID.hexString) bob 1 not what alice wrote".utf8)
    forgedLine += Array(
      " \(forgedLine.withUnsafeBytes { PublicLog.tag(body: $0, previousTag: SessionLog.initialPreviousTag) }.hexString)"
        .utf8)
    var inserted = lines
    inserted.insert(forgedLine, at: 3)
    bad("public-line-inserted", .inserted, line: 4, inserted)

    // One bit of checkpoint 1's signature flipped, the chain recomputed: the chain holds, the
    // signature does not.
    var flipped = lines
    let text = String(decoding: flipped[5], as: UTF8.self)
    let signatureStart = text.range(of: " signature ")!.upperBound
    var signature = [UInt8](hexString: text[signatureStart...].prefix(128))!
    signature[0] ^= 0x01
    flipped[5] = Array(
      (String(text[..<signatureStart]) + signature.hexString + " " + String(repeating: "0", count: 64)).utf8)
    bad("public-checkpoint-signature-flipped", .forged, line: 6, rechain(flipped))

    // Checkpoint 1 removed: as is, an entry number is missing; renumbered and rechained, the
    // next checkpoint is number 2 where 1 is expected.
    var withoutCheckpoint = lines
    withoutCheckpoint.remove(at: 5)
    bad("public-checkpoint-removed", .deleted, line: 6, withoutCheckpoint)
    bad("public-checkpoint-removed-rechained", .deleted, line: 7, rechain(withoutCheckpoint, renumber: true))

    // From checkpoint 1 on, the log written again by a writer with a fresh seed of its own, at
    // the right position and number: its checkpoints certify its own next keys, but no checkpoint
    // certified its first one.
    let fresh = PublicLogState(
      seed: SecretBytes(copying: (0..<32).map { UInt8(0xe0 ^ $0) }), nextIndex: 5, previousTag: tag(of: lines[4]),
      checkpoint: CheckpointPosition(epoch: 1, sealedCount: 3, time: baseUnixTime + 3))
    bad("public-uncertified-key", .forged, line: 6, Array(lines[0..<5]) + (try seal(Array(items[5...]), state: fresh)))

    // Checkpoint 1's text cut (its signature 16 digits short), the chain recomputed.
    var cut = lines
    cut[5] = Array(cut[5].dropLast(65 + 16)) + Array(" \(String(repeating: "0", count: 64))".utf8)
    bad("public-checkpoint-malformed", .malformed, line: 6, rechain(cut))

    // The good log cut right after checkpoint 1: a valid log; only a state file that saw
    // checkpoint 3 (entry 9) tells that it was cut back.
    let newest = lines[9]
    good(
      "public-cut-back", Array(lines[0..<6]), checkpoints: 2, unsealed: 0,
      extra: [("with-state", "10 \(tag(of: newest).hexString)"), ("with-state-expect", "error truncated line 7")])
    return vectors
  }

  // MARK: - the runner

  /// Runs the lines of `log` through `PublicLogVerifier` as sc-logcheck does (each line with the
  /// one after it; an unterminated last line is torn).
  static func verify(_ log: [UInt8], auditKey: AuditKey) -> (defect: LogDefect?, verifier: PublicLogVerifier) {
    let verifier = PublicLogVerifier(auditKey: auditKey)
    var lines = log.split(separator: 0x0a, omittingEmptySubsequences: false).map(Array.init)
    let partial = lines.removeLast()
    do {
      for (offset, line) in lines.enumerated() {
        let next = offset + 1 < lines.count ? lines[offset + 1] : nil
        try line.withUnsafeBytes { line in
          if let next {
            try next.withUnsafeBytes {
              try verifier.verify(line: line, lineNumber: offset + 1, nextLine: $0)
            }
          } else {
            try verifier.verify(line: line, lineNumber: offset + 1, nextLine: nil)
          }
        }
      }
      if !partial.isEmpty { throw LogDefect(line: lines.count + 1, kind: .torn, detail: "the last line is incomplete") }
    } catch {
      return (error as? LogDefect, verifier)
    }
    return (nil, verifier)
  }

  /// FORMATS.md §9.8.7: through the library's verifier, an independent reading of the spec for
  /// the good ones, and sc-logcheck -p (the outcome, the line and the kind; for a success the
  /// summary and the state file it writes; with `with-state`, the check against that state).
  static func check(_ vector: TestVector) throws {
    let auditKey = try AuditKey(text: try XCTUnwrap(vector.fields["audit-key"], vector.name))
    XCTAssertEqual(auditKey, try Self.auditKey(), "\(vector.name): the audit key of seed(0) = 00 01 … 1f")
    func parseExpect(_ text: String?) throws -> (kind: String, line: Int)? {
      guard let text, text != "success" else { return nil }
      let words = text.split(separator: " ")
      guard words.count == 4, words[0] == "error", words[2] == "line", let line = Int(words[3]) else {
        XCTFail("\(vector.name): bad expect '\(text)'")
        return nil
      }
      return (String(words[1]), line)
    }
    let expected = try parseExpect(vector.fields["expect"])

    let (defect, verifier) = verify(vector.data, auditKey: auditKey)
    XCTAssertEqual(defect?.kind.rawValue, expected?.kind, "\(vector.name): library: \(String(describing: defect))")
    XCTAssertEqual(defect?.line, expected?.line, "\(vector.name): library: \(String(describing: defect))")
    if expected == nil {
      let entries = try XCTUnwrap(Int(vector.fields["entries"] ?? ""), vector.name)
      let checkpoints = try XCTUnwrap(Int(vector.fields["checkpoints"] ?? ""), vector.name)
      let unsealed = try XCTUnwrap(Int(vector.fields["unsealed"] ?? ""), vector.name)
      XCTAssertEqual(verifier.nextIndex, UInt64(entries), vector.name)
      XCTAssertEqual(verifier.epoch, UInt64(checkpoints), vector.name)
      XCTAssertEqual(verifier.newestCheckpoint.map { Int($0.epoch) + 1 } ?? 0, checkpoints, vector.name)
      XCTAssertEqual(verifier.unsealedCount, UInt64(unsealed), vector.name)
      let reference = ReferencePublicLog.verify(vector.data, auditKey: auditKey.bytes, seed0: seed0)
      XCTAssertEqual(reference?.entries, entries, "\(vector.name): the spec read independently")
      XCTAssertEqual(reference?.checkpoints, checkpoints, "\(vector.name): the spec read independently")
      XCTAssertEqual(reference?.unsealed, unsealed, "\(vector.name): the spec read independently")
    }

    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sc-publiclog-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let logPath = directory.appendingPathComponent("public.log").path
    _ = FileManager.default.createFile(atPath: logPath, contents: Data(vector.data))
    let result = try ToolRunner.run("sc-logcheck", ["-p", auditKey.text, logPath])
    if let expected {
      XCTAssertEqual(result.status, 1, "\(vector.name): \(result.stderr)")
      XCTAssertTrue(
        result.stderr.contains("\(logPath): line \(expected.line): \(expected.kind):"),
        "\(vector.name): \(result.stderr)")
    } else {
      XCTAssertEqual(result.status, 0, "\(vector.name): \(result.stderr)")
      let stdout = String(decoding: result.stdout, as: UTF8.self)
      let checkpoints = vector.fields["checkpoints"] ?? ""
      let unsealed = vector.fields["unsealed"] ?? ""
      XCTAssertTrue(
        stdout.contains("\(vector.fields["entries"] ?? "") entries verified; "), "\(vector.name): \(stdout)")
      XCTAssertTrue(stdout.contains("; \(checkpoints) checkpoint"), "\(vector.name): \(stdout)")
      XCTAssertEqual(
        stdout.contains("not sealed yet"), unsealed != "0", "\(vector.name): unsealed \(unsealed): \(stdout)")
      if unsealed != "0" {
        XCTAssertTrue(stdout.contains("; \(unsealed) entries after it not sealed yet"), "\(vector.name): \(stdout)")
      }

      // The state file a check writes: the newest checkpoint's index plus one and its tag.
      let statePath = directory.appendingPathComponent("state").path
      let first = try ToolRunner.run("sc-logcheck", ["-q", "-p", auditKey.text, "--state", statePath, logPath])
      XCTAssertEqual(first.status, 0, "\(vector.name): \(first.stderr)")
      if let newest = verifier.newestCheckpoint {
        XCTAssertEqual(
          try String(contentsOfFile: statePath, encoding: .utf8),
          "securechat-logcheck-state-v1 \(auditKey.fingerprint) \(newest.index + 1) \(newest.tag.hexString)\n",
          vector.name)
      }
    }

    if let withState = vector.fields["with-state"] {
      let stateExpected = try XCTUnwrap(try parseExpect(vector.fields["with-state-expect"]), vector.name)
      let statePath = directory.appendingPathComponent("given-state").path
      XCTAssertTrue(
        FileManager.default.createFile(
          atPath: statePath,
          contents: Data("securechat-logcheck-state-v1 \(auditKey.fingerprint) \(withState)\n".utf8),
          attributes: [.posixPermissions: 0o600]), vector.name)
      let withResult = try ToolRunner.run("sc-logcheck", ["-q", "-p", auditKey.text, "--state", statePath, logPath])
      XCTAssertEqual(withResult.status, 1, "\(vector.name) with its state: \(withResult.stderr)")
      XCTAssertTrue(
        withResult.stderr.contains("\(logPath): line \(stateExpected.line): \(stateExpected.kind):"),
        "\(vector.name) with its state: \(withResult.stderr)")
      // The state is the good log's newest checkpoint: the good log passes with it.
      let good = try TestVector(path: TestVector.directory + "/public-log/good-public-log.vector")
      let goodPath = directory.appendingPathComponent("good.log").path
      _ = FileManager.default.createFile(atPath: goodPath, contents: Data(good.data))
      let goodResult = try ToolRunner.run("sc-logcheck", ["-q", "-p", auditKey.text, "--state", statePath, goodPath])
      XCTAssertEqual(goodResult.status, 0, "good-public-log with the state of \(vector.name): \(goodResult.stderr)")
    }
  }
}

/// FORMATS.md §9.8.2–§9.8.4 read again with nothing but SHA-256 and Ed25519: the chain, the
/// checkpoint numbers, each signature under the key certified for it, and (given `seed0`) each
/// certified key being the next of §9.8.1's seed chain. Nil if anything does not hold.
enum ReferencePublicLog {
  static func verify(_ log: [UInt8], auditKey: [UInt8], seed0: [UInt8]?) -> (
    entries: Int, checkpoints: Int, unsealed: Int
  )? {
    guard log.isEmpty || log.last == 0x0a else { return nil }
    let lines = log.split(separator: 0x0a, omittingEmptySubsequences: false).dropLast()
    var previous = [UInt8](repeating: 0, count: 32)
    var key = auditKey
    var seed = seed0
    var checkpoints = 0
    var sealed = 0
    for (index, line) in lines.enumerated() {
      guard line.count > 65 else { return nil }
      let body = Array(line.dropLast(65))
      let tag = SHA256.hash(Array("SecureChat v1 public log entry".utf8) + previous + body)
      guard tag.hexString == String(decoding: line.suffix(64), as: UTF8.self),
        line[line.endIndex - 65] == UInt8(ascii: " ")
      else { return nil }
      let fields = String(decoding: body, as: UTF8.self).split(
        separator: " ", maxSplits: 6, omittingEmptySubsequences: false)
      guard fields.count == 7, fields[0] == "\(index)" else { return nil }
      if fields[2] == "checkpoint" {
        let words = fields[6].split(separator: " ", omittingEmptySubsequences: false)
        guard fields[3] == "-", fields[4] == "-", fields[5] == "\(checkpoints)", words.count == 4,
          words[0] == "next", words[2] == "signature", words[1].count == 64, words[3].count == 128,
          let next = [UInt8](hexString: words[1]), let signature = [UInt8](hexString: words[3]),
          let verifier = Ed25519PublicKey(rawRepresentation: key),
          verifier.isValidSignature(
            signature, for: Array("SecureChat v1 log checkpoint".utf8) + previous + body.dropLast(128))
        else { return nil }
        if let current = seed {
          let evolved = SHA256.hash(Array("SecureChat v1 log signing key evolution".utf8) + current)
          guard (try? Ed25519SigningKey(seed: SecretBytes(copying: evolved)).publicKey) == next else { return nil }
          seed = evolved
        }
        key = next
        checkpoints += 1
        sealed = index + 1
      }
      previous = tag
    }
    return (lines.count, checkpoints, lines.count - sealed)
  }
}
