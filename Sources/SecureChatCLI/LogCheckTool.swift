import Dispatch
import SecureChatCrypto
import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// `sc-logcheck`: verifies session logs (docs/FORMATS.md §9.4) for people and for cron.
public enum LogCheckTool {
  public static let spec = CommandSpec(
    name: "sc-logcheck",
    usage: [
      "sc-logcheck -k VERIFYKEY [--state STATEFILE] [-q] LOGFILE...",
      "sc-logcheck -p AUDITKEY | -P FILE [--state STATEFILE] [--max-unsealed N] [--max-age DURATION]"
        + " [--checkpoints FILE] [-q] LOGFILE...",
    ],
    summary: """
      Verify a tamper-evident session log with its verification key, or a public log with its audit
      key. Several LOGFILEs are checked as consecutive parts of one log (for example a rotated log.1
      then log). Exit 0: intact; 1: tampered, truncated, stale, or torn by a crash; 2: cannot check.
      """,
    options: [
      OptionSpec("k", "key", value: "VERIFYKEY", help: "the log's verification key (made by sc-keygen --log)"),
      OptionSpec("p", "audit-key", value: "AUDITKEY", help: "a public log's audit key (sc-keygen --log --public)"),
      OptionSpec("P", "audit-key-file", value: "FILE", help: "read the audit key from FILE"),
      OptionSpec(
        nil, "max-unsealed", value: "N", help: "with -p: fail when more than N entries follow the last checkpoint"),
      OptionSpec(
        nil, "max-age", value: "DURATION", help: "with -p: fail when the newest checkpoint is older (90s, 15m, 2h, 1d)"),
      OptionSpec(
        nil, "checkpoints", value: "FILE", help: "with -p: the writer's copy of its checkpoints (--checkpoints-to)"),
      OptionSpec(nil, "state", value: "STATEFILE", help: "remember what was verified; detect removal and rollback"),
      OptionSpec("q", "quiet", help: "print nothing unless there is a problem (for cron)"),
    ],
    maxOperands: Int.max)

  public static func run(_ arguments: [String]) throws {
    let options = try ParsedArguments.parse(arguments, spec: spec)
    if options.has("audit-key") || options.has("audit-key-file") { return try PublicLogCheck.run(options) }
    for option in ["max-unsealed", "max-age", "checkpoints"] where options.has(option) {
      throw ToolError.usage("--\(option) goes with -p AUDITKEY (a public log)")
    }
    guard let keyPath = options.value("key") else {
      throw ToolError.usage("a key is needed: -k VERIFYKEY, or -p AUDITKEY for a public log")
    }
    guard !options.operands.isEmpty else { throw ToolError.usage("name at least one LOGFILE") }
    if keyPath == "-" && options.operands.contains("-") {
      throw ToolError.usage("the key and a log cannot both be standard input")
    }
    let key = try KeyLoader.load(keyPath, expecting: .logVerify)
    let statePath = options.value("state")
    let previous = try statePath.map { try LogCheckState.load($0, fingerprint: key.fingerprint) } ?? nil

    let verifier = try LogVerifier(verifyKey: key.secret)
    var tagAtPreviousCount: [UInt8]?
    for path in options.operands {
      let lines = try LogFileLines(path: path)
      do {
        try lines.forEachBatch { batch, firstLineNumber, following in
          let startIndex = verifier.nextIndex
          // Two parts on two cores: the tags are independent once the key chain is known.
          try verifier.verifyBatch(batch, firstLineNumber: firstLineNumber, following: following, parts: 2) {
            parts, body in
            // The parts touch disjoint entries and results (see verifyBatch).
            withoutActuallyEscaping(body) { body in
              let work = UncheckedSendable(body)
              DispatchQueue.concurrentPerform(iterations: parts) { work.value($0) }
            }
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
    if let previous {
      if count < previous.count {
        throw ToolError(
          "\(options.operands.last!): line \(count + 1): truncated: the log has \(count) entries, "
            + "but \(previous.count) were verified at the last check (state file \(statePath!))",
          hints: ["entries were removed, or the log was replaced by an older copy"], status: .integrityFailure)
      }
      if previous.count > 0 && !ConstantTime.equals(tagAtPreviousCount ?? [], previous.lastTag) {
        throw ToolError(
          "\(options.operands.last!): line \(previous.count): rolled-back: entry \(previous.count - 1) "
            + "is not the one verified at the last check (state file \(statePath!))", status: .integrityFailure)
      }
    }
    if let statePath {
      try LogCheckState.save(
        statePath, fingerprint: key.fingerprint,
        entry: LogCheckState.Entry(count: count, lastTag: verifier.previousTag))
    }
    if !options.has("quiet") {
      var report = "\(options.operands.joined(separator: " ")): \(count) entries verified"
      // FORMATS.md §9.4: a session direction is a session id with send or receive; it is
      // open from its open entry until its close entry.
      let open = verifier.openDirections.count
      if open > 0 {
        report += "; \(open) session direction\(open == 1 ? "" : "s") not closed (still running, or stopped)"
      }
      print(report)
    }
  }
}

/// Reads a log file line by line in large blocks and hands each complete line to the verifier
/// together with the line after it (to tell an inserted line from a modified one).
struct LogFileLines {
  let path: String
  let fd: FileDescriptor

  init(path: String) throws {
    self.path = path
    if path == "-" { try StandardDescriptors.requireOpen(.standardInput) }
    let raw = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
    guard raw >= 0 else { throw ToolError.system("cannot read the log \(path)") }
    fd = FileDescriptor(rawValue: raw)
  }

  /// Hands over the complete lines of each buffer-full at once (with the line after the last,
  /// when it is complete too).
  func forEachBatch(
    _ body: (_ lines: [UnsafeRawBufferPointer], _ firstNumber: Int, _ following: UnsafeRawBufferPointer?) throws -> Void
  ) throws {
    // Check the log as it was at one moment: its size is read under a shared lock, which writers
    // hold exclusively while they append, so a half-written append is never mistaken for a torn line.
    var remaining = Int.max
    var info = stat()
    if fstat(fd.rawValue, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG {
      _ = flock(fd.rawValue, LOCK_SH)
      if fstat(fd.rawValue, &info) == 0 { remaining = Int(info.st_size) }
      _ = flock(fd.rawValue, LOCK_UN)
    }
    let input = fd
    let name = path == "-" ? "the log on standard input" : "the log \(path)"
    // 2 MiB a batch: the batch's key chain (32 bytes a line, locked memory, twice: this batch's
    // and the next one's, computed ahead) grows with it, and peak RSS must stay under 16 MiB
    // (issue 17); longer batches gained nothing measurable on two cores.
    let queue = InputQueue(capacity: 2 << 20) { buffer in
      guard remaining > 0 else { return 0 }
      let n: Int
      do {
        n = try input.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(buffer.count, remaining)]))
      } catch let error as ToolError {
        throw error.naming(name)
      }
      remaining -= n
      return n
    }
    var lineNumber = 0
    while true {
      let readable = queue.readable
      // Complete lines in the buffer, each checked with its successor when that is complete too.
      var start = 0
      var lineEnds: [Int] = []
      var searchFrom = 0
      // memchr(3): the newline search is a serial part of the check, keep it fast.
      while searchFrom < readable.count,
        let found = memchr(readable.baseAddress! + searchFrom, 0x0a, readable.count - searchFrom)
      {
        let newline = UnsafeRawPointer(found) - readable.baseAddress!
        lineEnds.append(newline)
        searchFrom = newline + 1
      }
      let usable = queue.atEnd ? lineEnds.count : max(0, lineEnds.count - 1)
      var batch: [UnsafeRawBufferPointer] = []
      batch.reserveCapacity(usable)
      for i in 0..<usable {
        batch.append(UnsafeRawBufferPointer(rebasing: readable[start..<lineEnds[i]]))
        start = lineEnds[i] + 1
      }
      if !batch.isEmpty {
        let following =
          usable < lineEnds.count ? UnsafeRawBufferPointer(rebasing: readable[start..<lineEnds[usable]]) : nil
        try body(batch, lineNumber + 1, following)
        lineNumber += batch.count
      }
      queue.consume(start)
      let heldBack = lineEnds.count - usable
      let partial = readable.count - (lineEnds.last.map { $0 + 1 } ?? 0)
      if queue.atEnd {
        if !queue.readable.isEmpty {
          throw LogDefect(
            line: lineNumber + 1, kind: .torn,
            detail: "the last line is incomplete: a writer was interrupted (\(lineNumber) entries before it verify)")
        }
        return
      }
      if partial > SessionLog.maxLineLength {
        throw LogDefect(line: lineNumber + heldBack + 1, kind: .malformed, detail: "a line longer than any entry")
      }
      try queue.fill()
    }
  }
}

/// The state file of `--state` (FORMATS.md §9.6): per verification key fingerprint, how many
/// entries were verified and the last tag, so that a later check sees removal and rollback.
enum LogCheckState {
  struct Entry {
    let count: UInt64
    let lastTag: [UInt8]
  }
  static let tag = "securechat-logcheck-state-v1"
  /// One line per verification key; far more logs than anyone audits with one state file.
  static let maxStateSize = 1 << 20

  static func load(_ path: String, fingerprint: String) throws -> Entry? {
    guard let bytes = try readExisting(path) else { return nil }
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
      let fields = line.split(separator: " ")
      guard fields.count == 4, fields[0] == tag else {
        throw ToolError("the state file \(path) is not a sc-logcheck state file")
      }
      if fields[1] == fingerprint {
        // §9.6: the count in digits only, without sign or leading zero; the tag in 64 lowercase
        // hex digits. Anything else is damage, never read as another number or tag.
        let count = fields[2]
        let isCount = count.allSatisfy { ("0"..."9").contains($0) } && (count == "0" || count.first != "0")
        let isTag =
          fields[3].count == 64 && fields[3].allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
        guard isCount, isTag, let entries = UInt64(count), let lastTag = [UInt8](hexString: fields[3]) else {
          throw ToolError("the state file \(path) is damaged")
        }
        return Entry(count: entries, lastTag: lastTag)
      }
    }
    return nil
  }

  /// Rewrites the state file atomically, keeping the lines of other logs.
  static func save(_ path: String, fingerprint: String, entry: Entry) throws {
    var lines: [String] = []
    if let bytes = try readExisting(path) {
      lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        .filter { !$0.contains(" \(fingerprint) ") }.map(String.init)
    }
    lines.append("\(tag) \(fingerprint) \(entry.count) \(entry.lastTag.hexString)")
    let output = try OutputFile(path: path, mode: 0o600, what: "state file")
    do {
      try output.write(Array((lines.joined(separator: "\n") + "\n").utf8))
      try output.commit()
    } catch {
      output.abandon()
      throw error
    }
  }

  /// The contents of the state file, or nil if there is none yet. It is read, then replaced: it
  /// is named by its path, never a descriptor, and it follows OutputTarget's rules (no symbolic
  /// link, no fifo, a file of the user's that others cannot read or write): a state file that
  /// someone else could change would let them hide a cut log.
  private static func readExisting(_ path: String) throws -> [UInt8]? {
    let what = "state file"
    guard OutputTarget.descriptorNumber(path) == nil else {
      throw ToolError.usage("--state needs the path of a file: it is read, then replaced")
    }
    let target = try OutputTarget(checking: path, what: what)
    switch target {
    case .missing, .descriptor: return nil
    case .existingFile(let info): try OutputTarget.requirePrivate(info, path: path, what: what)
    case .device: break
    }
    let fd = try target.openChecked(path, what: what, flags: O_RDONLY)
    defer { fd.close() }
    var bytes = [UInt8](repeating: 0, count: maxStateSize + 1)
    let count: Int
    do {
      count = try bytes.withUnsafeMutableBytes { try fd.readFully(into: $0) }
    } catch let error as ToolError {
      throw error.naming("the state file \(path)")
    }
    guard count <= maxStateSize else { throw ToolError("the state file \(path) is too large") }
    return Array(bytes[0..<count])
  }
}

/// A value handed to concurrent code that, by construction, does not share mutable state.
struct UncheckedSendable<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
}
