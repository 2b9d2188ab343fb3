import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

/// Session log vectors (docs/vectors/log): a good log made from fixed keys and fixed times, and
/// the same log with one defect of each kind sc-logcheck names.
///
///     kind: log
///     verify-key: <64 hex digits>
///     expect: success                        (entries: <count>)
///     expect: error <defect-kind> line <n>
///
/// The data is the log file's bytes.
extension VectorGenerator {
  func writeLogVectors(_ directory: String) throws {
    for vector in try LogVectors.all() {
      try write(directory, vector.name, vector.fields, vector.data)
    }
  }
}

extension VectorTests {
  func checkLog(_ vector: TestVector) throws {
    try LogVectors.check(vector)
  }
}

enum LogVectors {
  static let verifyKey = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 11 &+ 0x23) }
  static let sessionID = (0..<16).map { UInt8(truncatingIfNeeded: 0x70 &+ $0 &* 5) }

  struct Vector {
    let name: String
    let fields: [(String, String)]
    let data: [UInt8]
  }

  static func time(_ second: Int) -> String {
    "2026-11-26T15:04:\(second < 10 ? "0" : "")\(second).\(String(250_000 + second * 1111))Z"
  }

  /// The entries of the good log: both directions of one session, with text that needs escaping,
  /// and a repair entry.
  static func entries() -> [LogEntry] {
    let peer = Array("bob".utf8)
    func entry(_ second: Int, _ kind: LogEntryKind, _ sequence: UInt64?, _ text: [UInt8], session: Bool = true)
      -> LogEntry
    {
      LogEntry(
        time: time(second), kind: kind, sessionID: session ? sessionID : [], peer: session ? peer : [],
        sequence: sequence, text: text)
    }
    return [
      entry(1, .sendOpen, nil, Array("local alice code 123 456 789 012".utf8)),
      entry(2, .sent, 0, Array("hello bob\n".utf8)),
      entry(3, .receiveOpen, nil, Array("local alice code 123 456 789 012".utf8)),
      entry(4, .received, 0, Array("hi alice, a backslash \\ and a tab\t\n".utf8)),
      entry(5, .sent, 1, (0..<256).map { UInt8($0) }),
      entry(6, .repair, nil, Array("cut 17 bytes of an entry torn by an interrupted writer".utf8), session: false),
      entry(7, .sendClose, nil, Array("2 messages; final frame sent".utf8)),
      entry(8, .receiveClose, nil, Array("1 message; final frame received".utf8)),
    ]
  }

  static func all() throws -> [Vector] {
    let state = LogSealState(
      key: SecretBytes(copying: verifyKey), nextIndex: 0, previousTag: SessionLog.initialPreviousTag)
    var lines: [[UInt8]] = []
    for entry in entries() { lines.append(Array(try state.seal(entry).dropLast())) }
    // The entry a crashed writer was writing when it died.
    let next = try state.seal(
      LogEntry(
        time: time(9), kind: .sent, sessionID: sessionID, peer: Array("bob".utf8), sequence: 2,
        text: Array("never finished\n".utf8)))
    func join(_ lines: [[UInt8]]) -> [UInt8] { lines.flatMap { $0 + [0x0a] } }
    func changed(_ lineNumber: Int, _ change: (inout [UInt8]) -> Void) -> [UInt8] {
      var copy = lines
      change(&copy[lineNumber - 1])
      return join(copy)
    }
    func replacing(_ line: [UInt8], _ old: String, _ new: String) -> [UInt8] {
      Array(String(decoding: line, as: UTF8.self).replacingOccurrences(of: old, with: new).utf8)
    }

    var vectors: [Vector] = []
    func good(_ name: String, _ data: [UInt8], entries: Int) {
      vectors.append(
        Vector(
          name: name,
          fields: [
            ("kind", "log"), ("verify-key", verifyKey.hexString), ("expect", "success"), ("entries", "\(entries)"),
          ], data: data))
    }
    func bad(_ name: String, _ kind: LogDefect.Kind, line: Int, _ data: [UInt8]) {
      vectors.append(
        Vector(
          name: name,
          fields: [
            ("kind", "log"), ("verify-key", verifyKey.hexString), ("expect", "error \(kind.rawValue) line \(line)"),
          ], data: data))
    }

    good("good-both-directions", join(lines), entries: lines.count)
    good("good-empty", [], entries: 0)
    good("good-first-three", join(Array(lines[0..<3])), entries: 3)
    // A log that starts with a handshake that failed (kind refused, FORMATS.md §9.2), then a session.
    let refusedState = LogSealState(
      key: SecretBytes(copying: verifyKey), nextIndex: 0, previousTag: SessionLog.initialPreviousTag)
    let refused = LogEntry(
      time: time(0), kind: .refused, sessionID: [], peer: [], sequence: nil,
      text: Array("from 192.0.2.7:40112: authentication failed: the peer's response does not verify".utf8))
    var refusedLines: [[UInt8]] = []
    for entry in [refused] + entries().prefix(2) { refusedLines.append(Array(try refusedState.seal(entry).dropLast())) }
    good("good-refused-attempt", join(refusedLines), entries: 3)

    // modified: a byte of the text, of the time, of the tag, the sequence number; all line 3+.
    bad("modified-text", .modified, line: 4, changed(4) { $0 = replacing($0, "hi alice", "hi alicE") })
    bad("modified-time", .modified, line: 4, changed(4) { $0 = replacing($0, time(4), time(3)) })
    bad(
      "modified-tag", .modified, line: 4,
      changed(4) { $0[$0.count - 1] = $0[$0.count - 1] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0") })
    bad("modified-sequence", .modified, line: 2, changed(2) { $0 = replacing($0, " bob 0 hello", " bob 1 hello") })
    bad("modified-first-line", .modified, line: 1, changed(1) { $0 = replacing($0, "alice", "mallory") })
    // inserted: a forged line that claims the index of the real entry after it.
    var forged = Array("2 \(time(3)) received \(sessionID.hexString) bob 0 forged\\n".utf8)
    forged += Array(
      " \(try HMACSHA256(key: SecretBytes(copying: [UInt8](repeating: 7, count: 32))).authenticate(forged).hexString)"
        .utf8)
    var inserted = lines
    inserted.insert(forged, at: 2)
    bad("inserted-forged-line", .inserted, line: 3, join(inserted))
    // deleted: a line in the middle, the first line.
    var deleted = lines
    deleted.remove(at: 3)
    bad("deleted-middle-line", .deleted, line: 4, join(deleted))
    bad("deleted-first-line", .deleted, line: 1, join(Array(lines.dropFirst())))
    // reordered: two lines swapped; an earlier line repeated.
    var swapped = lines
    swapped.swapAt(4, 5)
    bad("reordered-swapped-lines", .reordered, line: 5, join(swapped))
    var repeated = lines
    repeated.insert(lines[1], at: 5)
    bad("reordered-line-repeated", .reordered, line: 6, join(repeated))
    // torn: half of the next entry, without its newline; or a good last line without its newline.
    bad("torn-half-line", .torn, line: lines.count + 1, join(lines) + Array(next.prefix(next.count / 2)))
    bad("torn-missing-final-newline", .torn, line: lines.count, Array(join(lines).dropLast()))
    // malformed: a tag too short, not hex, an unknown kind, a bad entry number, no tag.
    bad("malformed-short-tag", .malformed, line: 3, changed(3) { $0.removeLast() })
    bad("malformed-tag-not-hex", .malformed, line: 3, changed(3) { $0[$0.count - 5] = UInt8(ascii: "g") })
    bad(
      "malformed-unknown-kind", .malformed, line: 3,
      changed(3) { $0 = replacing($0, " receive-open ", " receive-opened ") })
    bad("malformed-entry-number", .malformed, line: 3, changed(3) { $0[0] = UInt8(ascii: "x") })
    bad("malformed-blank-line", .malformed, line: 3, join(Array(lines[0..<2]) + [[]] + Array(lines[2...])))

    // The kind field changed to another known kind: authenticated like every other field.
    bad("modified-kind", .modified, line: 2, changed(2) { $0 = replacing($0, " sent ", " received ") })
    // The tag one digit too long, in uppercase; the entry number too long; a line far too short.
    bad("malformed-long-tag", .malformed, line: 3, changed(3) { $0.append(UInt8(ascii: "0")) })
    bad(
      "malformed-uppercase-tag", .malformed, line: 3,
      changed(3) { line in
        let letter = line.lastIndex { (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }!
        precondition(letter >= line.count - 64, "a tag with a letter")
        line[letter] -= 0x20
      })
    bad(
      "malformed-entry-number-20-digits", .malformed, line: 3,
      changed(3) { $0 = Array(String(repeating: "0", count: 19).utf8) + $0 })
    bad(
      "malformed-line-too-short", .malformed, line: 3,
      join(Array(lines[0..<2]) + [Array("x".utf8)] + Array(lines[2...])))

    // Another log: the same entries sealed under another verification key. One of its lines in
    // place of ours is a change; put before ours, an insertion; the whole log under our key, line 1.
    let otherKey = verifyKey.map { $0 ^ 0x5a }
    let otherState = LogSealState(
      key: SecretBytes(copying: otherKey), nextIndex: 0, previousTag: SessionLog.initialPreviousTag)
    var otherLines: [[UInt8]] = []
    for entry in entries() { otherLines.append(Array(try otherState.seal(entry).dropLast())) }
    var spliced = lines
    spliced[2] = otherLines[2]
    bad("spliced-line-from-other-log", .modified, line: 3, join(spliced))
    var foreign = lines
    foreign.insert(otherLines[2], at: 2)
    bad("inserted-line-from-other-log", .inserted, line: 3, join(foreign))
    vectors.append(
      Vector(
        name: "wrong-verify-key",
        fields: [("kind", "log"), ("verify-key", otherKey.hexString), ("expect", "error modified line 1")],
        data: join(lines)))
    return vectors
  }

  /// A vector through the library's verifier and through sc-logcheck: the outcome, the line and
  /// the defect kind must match.
  static func check(_ vector: TestVector) throws {
    let key = try XCTUnwrap([UInt8](hexString: vector.fields["verify-key"] ?? "x"), vector.name)
    var expected: (kind: String, line: Int)?
    if let error = vector.expectedError {
      let words = error.split(separator: " ")
      guard words.count == 3, words[1] == "line", let line = Int(words[2]) else {
        return XCTFail("\(vector.name): bad expect '\(error)'")
      }
      expected = (String(words[0]), line)
    }
    let defect = LibraryCheck.check(vector.data, verifyKey: SecretBytes(copying: key))
    XCTAssertEqual(defect?.kind.rawValue, expected?.kind, "\(vector.name): library: \(String(describing: defect))")
    XCTAssertEqual(defect?.line, expected?.line, "\(vector.name): library: \(String(describing: defect))")
    if expected == nil {
      XCTAssertEqual(
        ReferenceLog.verify(vector.data, verifyKey: key), .intact(Int(vector.fields["entries"] ?? "") ?? -1))
    }

    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sc-logvector-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let keyPath = directory.appendingPathComponent("verify.key").path
    let logPath = directory.appendingPathComponent("vector.log").path
    _ = FileManager.default.createFile(
      atPath: keyPath,
      contents: Data(
        KeyFile.serialize(KeyFile.Key(type: .logVerify, secret: SecretBytes(copying: key))).copyForTesting()),
      attributes: [.posixPermissions: 0o600])
    _ = FileManager.default.createFile(atPath: logPath, contents: Data(vector.data))
    let result = try ToolRunner.run("sc-logcheck", ["-q", "-k", keyPath, logPath])
    if let expected {
      XCTAssertEqual(result.status, 1, "\(vector.name): \(result.stderr)")
      XCTAssertTrue(
        result.stderr.contains("line \(expected.line): \(expected.kind):"), "\(vector.name): \(result.stderr)")
    } else {
      XCTAssertEqual(result.status, 0, "\(vector.name): \(result.stderr)")
    }
  }
}
