import Dispatch
import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// `sc-logcheck -p AUDITKEY` (docs/FORMATS.md §9.8): a public log checked with its audit key
/// alone. Every entry must follow the chain and every checkpoint be signed by the key certified
/// for it; the entries after the newest checkpoint are reported as unsealed. With `--state`, the
/// log must extend the newest checkpoint verified last time; `--max-unsealed` and `--max-age`
/// make a long unsealed tail or an old newest checkpoint a failure; `--checkpoints` compares the
/// log with the writer's copy of its checkpoints.
enum PublicLogCheck {
  static func run(_ options: ParsedArguments) throws {
    guard !options.has("key") else { throw ToolError.usage("give -k VERIFYKEY or -p AUDITKEY, not both") }
    guard !options.operands.isEmpty else { throw ToolError.usage("name at least one LOGFILE") }
    let auditKey = try loadAuditKey(options)
    let maxUnsealed = try options.value("max-unsealed").map { text -> UInt64 in
      guard let value = UInt64(text), text.allSatisfy(\.isNumber) else {
        throw ToolError.usage("--max-unsealed takes a whole number of entries")
      }
      return value
    }
    let maxAge = try options.value("max-age").map(parseDuration)
    let copy = try options.value("checkpoints").map(CheckpointCopy.init(path:))
    let statePath = options.value("state")
    let previous = try statePath.map { try LogCheckState.load($0, fingerprint: auditKey.fingerprint) } ?? nil

    let verifier = PublicLogVerifier(auditKey: auditKey)
    var tagAtPreviousCount: [UInt8]?
    var lastPath = options.operands[0]
    for path in options.operands {
      lastPath = path
      let lines = try LogFileLines(path: path)
      do {
        try lines.forEachBatch { batch, firstLineNumber, following in
          let startIndex = verifier.nextIndex
          // Two parts on two cores (see PublicLogVerifier.verifyBatch).
          try verifier.verifyBatch(batch, firstLineNumber: firstLineNumber, following: following, parts: 2) {
            parts, body in
            withoutActuallyEscaping(body) { body in
              let work = UncheckedSendable(body)
              DispatchQueue.concurrentPerform(iterations: parts) { work.value($0) }
            }
          }
          if let copy {
            for (offset, line) in batch.enumerated() { try copy.compare(line, lineNumber: firstLineNumber + offset) }
          }
          if let previous, previous.count > startIndex, previous.count <= verifier.nextIndex {
            let line = batch[Int(previous.count - startIndex) - 1]
            tagAtPreviousCount = [UInt8](hexString: String(decoding: line.suffix(64), as: UTF8.self))
          }
        }
      } catch let defect as LogDefect {
        throw ToolError("\(path): \(defect.description)", status: .integrityFailure)
      }
    }
    let count = verifier.nextIndex
    func fail(_ line: UInt64, _ kind: String, _ detail: String, hints: [String] = []) -> ToolError {
      ToolError("\(lastPath): line \(line): \(kind): \(detail)", hints: hints, status: .integrityFailure)
    }
    if let previous {
      if count < previous.count {
        throw fail(
          count + 1, "truncated",
          "the log has \(count) entries, but a checkpoint at entry \(previous.count - 1) was verified at the last"
            + " check (state file \(statePath!))",
          hints: ["entries were removed, or the log was cut back to an earlier checkpoint"])
      }
      if previous.count > 0 && !ConstantTime.equals(tagAtPreviousCount ?? [], previous.lastTag) {
        throw fail(
          previous.count, "rolled-back",
          "entry \(previous.count - 1) is not the checkpoint verified at the last check (state file \(statePath!))")
      }
    }
    if let copy, let missing = copy.beyond(count) {
      throw fail(
        count + 1, "truncated",
        "the copy of the checkpoints holds checkpoint \(missing.epoch) at entry \(missing.index), which the log"
          + " does not have", hints: ["entries were removed, or the log was cut back to an earlier checkpoint"])
    }
    let newest = verifier.newestCheckpoint
    if let maxUnsealed, verifier.unsealedCount > maxUnsealed {
      throw fail(
        count, "unsealed",
        "\(verifier.unsealedCount) entr\(verifier.unsealedCount == 1 ? "y follows" : "ies follow") the newest"
          + " checkpoint, more than --max-unsealed \(maxUnsealed)")
    }
    if let maxAge {
      let now = Int64(time(nil))
      guard let newest, let written = parseTime(newest.time) else {
        throw fail(count, "stale", "the log has no checkpoint (--max-age \(options.value("max-age")!))")
      }
      if now - written > maxAge {
        throw fail(
          UInt64(newest.lineNumber), "stale",
          "the newest checkpoint was written at \(newest.time), more than \(options.value("max-age")!) ago",
          hints: ["the writer stopped, or the log was cut back to an old checkpoint"])
      }
    }
    if let statePath, let newest {
      try LogCheckState.save(
        statePath, fingerprint: auditKey.fingerprint,
        entry: LogCheckState.Entry(count: newest.index + 1, lastTag: newest.tag))
    }
    if !options.has("quiet") {
      var report = "\(options.operands.joined(separator: " ")): \(count) entries verified"
      if let newest {
        report +=
          "; \(newest.epoch + 1) checkpoint\(newest.epoch == 0 ? "" : "s"), the newest at entry \(newest.index)"
          + " (\(newest.time))"
      } else {
        report += "; no checkpoint"
      }
      let unsealed = verifier.unsealedCount
      if unsealed > 0 {
        report += "; \(unsealed) entr\(unsealed == 1 ? "y" : "ies") after it not sealed yet"
      }
      let open = verifier.openDirections.count
      if open > 0 {
        report += "; \(open) session direction\(open == 1 ? "" : "s") not closed (still running, or stopped)"
      }
      print(report)
    }
  }

  private static func loadAuditKey(_ options: ParsedArguments) throws -> AuditKey {
    let text: String
    if let given = options.value("audit-key") {
      guard !options.has("audit-key-file") else { throw ToolError.usage("give -p AUDITKEY or -P FILE, not both") }
      text = given
    } else {
      let path = options.value("audit-key-file")!
      let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
      guard fd >= 0 else { throw ToolError.system("cannot read the audit key file \(path)") }
      let file = FileDescriptor(rawValue: fd)
      defer { file.close() }
      var bytes = [UInt8](repeating: 0, count: 4097)
      let count = try bytes.withUnsafeMutableBytes { try file.readFully(into: $0) }
      // The first line that is neither blank nor a comment.
      let line = String(decoding: bytes[0..<min(count, 4096)], as: UTF8.self).split(separator: "\n")
        .map { String($0).trimmingCharacters(in: [" ", "\t", "\r"]) }.first { !$0.isEmpty && !$0.hasPrefix("#") }
      guard let line else { throw ToolError("the audit key file \(path) holds no key") }
      text = line
    }
    do {
      return try AuditKey(text: text.trimmingSpaces)
    } catch ProtocolError.badPublicKey(let why) {
      throw ToolError(
        "not a valid audit key: \(why)",
        hints: ["an audit key is printed by sc-keygen --log --public, and by sc-keygen -y SEALKEY"])
    }
  }

  /// 90, 90s, 15m, 2h, 1d: seconds.
  static func parseDuration(_ text: String) throws -> Int64 {
    let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
    var digits = Substring(text)
    var unit: Int64 = 1
    if let last = text.last, let value = units[last] {
      unit = value
      digits = digits.dropLast()
    }
    guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy(\.isNumber), let value = Int64(digits), value > 0
    else { throw ToolError.usage("--max-age takes a duration such as 90s, 15m, 2h or 1d") }
    return value * unit
  }

  /// §9.2's time field, 2026-11-26T15:04:05.000001Z: seconds since 1970.
  static func parseTime(_ text: String) -> Int64? {
    let bytes = Array(text.utf8)
    guard bytes.count == 27 else { return nil }
    func number(_ range: Range<Int>) -> Int32? { Int32(String(decoding: bytes[range], as: UTF8.self)) }
    guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
      let minute = number(14..<16), let second = number(17..<19)
    else { return nil }
    var parts = tm()
    parts.tm_year = year - 1900
    parts.tm_mon = month - 1
    parts.tm_mday = day
    parts.tm_hour = hour
    parts.tm_min = minute
    parts.tm_sec = second
    return Int64(timegm(&parts))
  }
}

/// The writer's copy of its checkpoints (`--checkpoints-to`, kept off the logging host): each of
/// them must be in the log, byte for byte, where it was written. A thief of the signing key can
/// re-sign the newest checkpoints after rewriting what they cover; the copy made before the theft
/// still shows the original ones.
final class CheckpointCopy {
  private var lines: [UInt64: (epoch: UInt64, bytes: [UInt8])] = [:]

  init(path: String) throws {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
    guard fd >= 0 else { throw ToolError.system("cannot read the checkpoint copy \(path)") }
    let file = FileDescriptor(rawValue: fd)
    defer { file.close() }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = try chunk.withUnsafeMutableBytes { try file.read(into: $0) }
      if n == 0 { break }
      bytes += chunk[0..<n]
      guard bytes.count <= 64 << 20 else { throw ToolError("the checkpoint copy \(path) is larger than 64 MiB") }
    }
    // A last line without LF is a copy torn by a crash: ignored.
    var start = 0
    var number = 0
    while let newline = bytes[start...].firstIndex(of: 0x0a) {
      number += 1
      let line = Array(bytes[start..<newline])
      start = newline + 1
      let parsed = line.withUnsafeBytes { raw -> (UInt64, UInt64)? in
        guard let entry = try? LogLine(raw, lineNumber: number), entry.kind == .checkpoint,
          let epoch = entry.sequence
        else { return nil }
        return (entry.index, epoch)
      }
      // A piece torn by a crash (the writer ends it with an LF before the next checkpoint) is
      // not a checkpoint: skipped.
      guard let (index, epoch) = parsed else { continue }
      lines[index] = (epoch, line)
    }
  }

  /// A line of the log that the copy holds a checkpoint for must be that checkpoint.
  func compare(_ line: UnsafeRawBufferPointer, lineNumber: Int) throws {
    guard !lines.isEmpty, let entry = try? LogLine(line, lineNumber: lineNumber), let copied = lines[entry.index]
    else { return }
    guard line.elementsEqual(copied.bytes) else {
      throw LogDefect(
        line: lineNumber, kind: .rolledBack,
        detail: "entry \(entry.index) is not checkpoint \(copied.epoch) as the copy of the checkpoints has it:"
          + " the log was rewritten from an earlier point")
    }
  }

  /// The first checkpoint of the copy at or after entry `count`: one the log does not have.
  func beyond(_ count: UInt64) -> (epoch: UInt64, index: UInt64)? {
    lines.filter { $0.key >= count }.min { $0.key < $1.key }.map { ($0.value.epoch, $0.key) }
  }
}
