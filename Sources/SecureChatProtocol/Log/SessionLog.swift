import SecureChatCrypto

/// The tamper-evident session log of docs/FORMATS.md §9: one text line per entry,
///
///     <index> <time> <kind> <session> <peer> <seq> <text> <tag>
///
/// chained (each tag covers the previous tag) and forward-secure (each entry has its own key;
/// the next key is a one-way hash of the current one, which is then erased). The verification
/// key is the first sealing key: it checks every entry, and it could forge them too, so it is
/// a secret of the auditor.
public enum SessionLog {
  public static let keySize = 32
  public static let tagSize = 32
  /// §9.2: a message is at most one frame of plaintext; escaped, a byte takes at most 4 characters.
  public static let maxTextBytes = RecordLayer.maxPlaintextCount
  /// §9.2: the longest line a verifier accepts before giving up on it.
  public static let maxLineLength = 4 * maxTextBytes + 512

  static let entryLabel = Array("SecureChat v1 log entry".utf8)
  static let evolutionLabel = Array("SecureChat v1 log key evolution".utf8)

  /// §9.3: K(i+1) = SHA-256(label ‖ K(i)).
  public static func evolve(_ key: SecretBytes) -> SecretBytes {
    let next = key.slice(0..<key.count)
    evolveInPlace(next)
    return next
  }

  /// Replaces K(i) by K(i+1) in the same buffer: no copy of the old key is left behind.
  public static func evolveInPlace(_ key: SecretBytes) {
    // SHA-256 reads all its input before it writes the digest, so the output may overwrite it.
    evolutionLabel.withUnsafeBytes { label in
      key.withUnsafeMutableBytes { k in SHA256.hash(label, UnsafeRawBufferPointer(k), into: k.baseAddress!) }
    }
  }

  /// §9.3: tag(i) = HMAC-SHA256(K(i), label ‖ tag(i−1) ‖ line without its tag), tag(−1) = 32 zero bytes.
  public static func tag(
    body: UnsafeRawBufferPointer, previousTag: [UInt8], key: SecretBytes, mac: HMACSHA256? = nil
  ) throws -> [UInt8] {
    let mac =
      try mac.map {
        $0.rekey(key)
        return $0
      } ?? HMACSHA256(key: key)
    mac.begin()
    entryLabel.withUnsafeBytes { mac.update($0) }
    previousTag.withUnsafeBytes { mac.update($0) }
    mac.update(body)
    var tag = [UInt8](repeating: 0, count: tagSize)
    tag.withUnsafeMutableBytes { mac.finish(into: $0.baseAddress!) }
    return tag
  }

  public static let initialPreviousTag = [UInt8](repeating: 0, count: tagSize)
}

/// §9.2: each direction of a session opens and closes with an entry of its own, so that a
/// missing end is visible.
public enum LogEntryKind: String, CaseIterable, Sendable {
  case sendOpen = "send-open"
  case sent
  case sendClose = "send-close"
  case receiveOpen = "receive-open"
  case received
  case receiveClose = "receive-close"
  /// A writer found a torn last line left by a crash and cut it off (text: how many bytes).
  case repair
  /// A handshake that failed (sc-handshake --log): nothing was authenticated, so the session and
  /// the peer are "-"; the text says where the connection came from, if known, and why it failed.
  case refused
  /// Public logs only (§9.8): a signature over the chain so far, and the next signing key.
  case checkpoint
}

extension LogEntryKind {
  /// The kinds with their names as bytes, for the parser's hot loop.
  static let byName: [(kind: LogEntryKind, name: [UInt8])] = allCases.map { ($0, Array($0.rawValue.utf8)) }
}

/// One entry before it is sealed.
public struct LogEntry: Sendable {
  public var time: String
  public var kind: LogEntryKind
  public var sessionID: [UInt8]
  public var peer: [UInt8]
  public var sequence: UInt64?
  public var text: [UInt8]

  public init(time: String, kind: LogEntryKind, sessionID: [UInt8], peer: [UInt8], sequence: UInt64?, text: [UInt8]) {
    self.time = time
    self.kind = kind
    self.sessionID = sessionID
    self.peer = peer
    self.sequence = sequence
    self.text = text
  }

  /// The line without its tag (and without the final space and newline).
  public func body(index: UInt64) -> [UInt8] {
    var line = Array("\(index) \(time) \(kind.rawValue) ".utf8)
    line += sessionID.isEmpty ? [UInt8(ascii: "-")] : Array(sessionID.hexString.utf8)
    line.append(UInt8(ascii: " "))
    line += peer.isEmpty ? [UInt8(ascii: "-")] : peer
    line.append(UInt8(ascii: " "))
    line += Array((sequence.map { String($0) } ?? "-").utf8)
    line.append(UInt8(ascii: " "))
    line += LogText.escape(text)
    return line
  }
}

/// §9.2: the text of an entry on one line: printable ASCII as is, `\\`, `\n`, `\t`, `\r`, and
/// `\xNN` for every other byte, so an entry is one line and a message cannot forge a line break.
public enum LogText {
  public static func escape(_ bytes: [UInt8]) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(bytes.count)
    let digits = Array("0123456789abcdef".utf8)
    for byte in bytes {
      switch byte {
      case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
      case 0x0a: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
      case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
      case 0x0d: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
      case 0x20...0x7e: out.append(byte)
      default: out += [UInt8(ascii: "\\"), UInt8(ascii: "x"), digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]]
      }
    }
    return out
  }
}

/// The writer's state, kept in the sealing key file (FORMATS.md §1.2): the current key, the
/// index of the next entry and the previous tag. A class: it owns its key buffer and evolves it
/// in place, so no copy of a used key survives an entry.
public final class LogSealState {
  public private(set) var key: SecretBytes
  public private(set) var nextIndex: UInt64
  public private(set) var previousTag: [UInt8]
  private var mac: HMACSHA256?

  /// Takes a copy of `key`.
  public init(key: SecretBytes, nextIndex: UInt64, previousTag: [UInt8]) {
    self.key = key.slice(0..<key.count)
    self.nextIndex = nextIndex
    self.previousTag = previousTag
  }

  /// Seals `entry` as the next line (with its newline) and moves the state on: the key used is
  /// replaced by the next one, so this state can no longer produce or alter that entry.
  public func seal(_ entry: LogEntry) throws -> [UInt8] {
    var line = entry.body(index: nextIndex)
    let mac = try self.mac ?? HMACSHA256(key: key)
    self.mac = mac
    let tag = try line.withUnsafeBytes { try SessionLog.tag(body: $0, previousTag: previousTag, key: key, mac: mac) }
    line.append(UInt8(ascii: " "))
    line += Array(tag.hexString.utf8)
    line.append(UInt8(ascii: "\n"))
    advance(pastEntryWithTag: tag)
    return line
  }

  /// Moves past an entry already in the log with `tag` (a writer finishing an interrupted append).
  public func advance(pastEntryWithTag tag: [UInt8]) {
    SessionLog.evolveInPlace(key)
    nextIndex += 1
    previousTag = tag
  }
}

/// What sc-logcheck reports for the first bad line (exit 1), by line number.
public struct LogDefect: Error, Equatable, CustomStringConvertible {
  public enum Kind: String, Sendable {
    case modified, inserted, deleted, reordered, truncated, torn, malformed
    case rolledBack = "rolled-back"
    /// Public logs (§9.8): a checkpoint whose signature does not verify with the key certified for it.
    case forged
    /// Public logs: more unsealed entries than --max-unsealed allows.
    case unsealed
    /// Public logs: the newest checkpoint is older than --max-age.
    case stale
  }
  public let line: Int
  public let kind: Kind
  public let detail: String

  public init(line: Int, kind: Kind, detail: String) {
    self.line = line
    self.kind = kind
    self.detail = detail
  }

  public var description: String { "line \(line): \(kind.rawValue): \(detail)" }
}

/// Verifies a log line by line from the verification key (§9.4). Sans I/O: feed it complete lines.
public final class LogVerifier {
  fileprivate let key: SecretBytes
  public fileprivate(set) var nextIndex: UInt64 = 0
  public fileprivate(set) var previousTag = SessionLog.initialPreviousTag
  private let mac: HMACSHA256
  /// Keys computed ahead by `verifyBatch` while the previous batch was checked: K(aheadStart)
  /// and the `aheadCount - 1` keys after it.
  fileprivate var ahead: SecretBytes?
  fileprivate var aheadStart: UInt64 = 0
  fileprivate var aheadCount = 0
  /// Sessions with an `open` entry and no `close` yet (session id ‖ kind of direction).
  public private(set) var openDirections: Set<[UInt8]> = []

  public init(verifyKey: SecretBytes) throws {
    key = verifyKey.slice(0..<verifyKey.count)
    mac = try HMACSHA256(key: verifyKey)
  }

  /// Checks one line (without its newline), numbered from 1.
  public func verify(line: UnsafeRawBufferPointer, lineNumber: Int, nextLine: UnsafeRawBufferPointer?) throws {
    let parsed = try LogLine(line, lineNumber: lineNumber)
    try LogLine.checkIndex(parsed, expected: nextIndex, lineNumber: lineNumber, nextLine: nextLine)
    let expected = try SessionLog.tag(body: parsed.body, previousTag: previousTag, key: key, mac: mac)
    guard ConstantTime.equals(expected, parsed.tag) else {
      // An inserted line takes the index it pretends to have; if the next line is the real entry
      // with the same index and verifies, call it an insertion rather than a modification.
      if let nextLine, let next = try? LogLine(nextLine, lineNumber: lineNumber + 1), next.index == parsed.index,
        let realTag = try? SessionLog.tag(body: next.body, previousTag: previousTag, key: key, mac: mac),
        ConstantTime.equals(realTag, next.tag)
      {
        throw LogDefect(line: lineNumber, kind: .inserted, detail: "a line that was not written by the logger")
      }
      throw LogDefect(line: lineNumber, kind: .modified, detail: "entry \(parsed.index) does not verify (changed)")
    }
    previousTag = parsed.tag
    SessionLog.evolveInPlace(key)
    nextIndex += 1
    trackSession(parsed)
  }

  private func trackSession(_ line: LogLine) {
    trackSession(kind: line.kind, session: Array(line.session))
  }

  fileprivate func trackSession(kind: LogEntryKind, session: [UInt8]) {
    switch kind {
    case .sendOpen: openDirections.insert(session + [0])
    case .sendClose: openDirections.remove(session + [0])
    case .receiveOpen: openDirections.insert(session + [1])
    case .receiveClose: openDirections.remove(session + [1])
    default: break
    }
  }
}

/// The fields of one line, parsed strictly (§9.2) without copying the text.
public struct LogLine {
  public let index: UInt64
  public let kind: LogEntryKind
  /// The time field as written.
  public var time: String { String(decoding: timeField, as: UTF8.self) }
  let timeField: UnsafeRawBufferPointer
  /// The seq field: nil for `-` (or anything that is not a decimal number).
  public var sequence: UInt64? {
    guard !sequenceField.isEmpty, sequenceField.count <= 20,
      sequenceField.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
    else { return nil }
    return UInt64(String(decoding: sequenceField, as: UTF8.self))
  }
  let sequenceField: UnsafeRawBufferPointer
  /// The peer field as written.
  public let peer: UnsafeRawBufferPointer
  public let session: UnsafeRawBufferPointer
  public let text: UnsafeRawBufferPointer
  /// The line without its tag: what the tag covers.
  public let body: UnsafeRawBufferPointer
  public let tag: [UInt8]

  /// `line` must stay valid while the result is used (the fields point into it).
  public init(_ line: UnsafeRawBufferPointer, lineNumber: Int) throws {
    func malformed(_ why: String) -> LogDefect { LogDefect(line: lineNumber, kind: .malformed, detail: why) }
    let tagHex = SessionLog.tagSize * 2
    guard line.count > tagHex + 1, line[line.count - tagHex - 1] == UInt8(ascii: " ") else {
      throw malformed("no tag at the end of the line")
    }
    var tag = [UInt8](repeating: 0, count: SessionLog.tagSize)
    var hexIndex = line.count - tagHex
    for i in 0..<SessionLog.tagSize {
      // Lowercase only: the tag is outside what it covers, so another spelling must not pass.
      guard let high = lowercaseHexValue(line[hexIndex]), let low = lowercaseHexValue(line[hexIndex + 1]) else {
        throw malformed("the tag is not lowercase hexadecimal")
      }
      tag[i] = high << 4 | low
      hexIndex += 2
    }
    self.tag = tag
    body = UnsafeRawBufferPointer(rebasing: line[0..<(line.count - tagHex - 1)])
    // index time kind session peer seq text: the first six fields end at the first six spaces.
    var spaces = (0, 0, 0, 0, 0, 0)
    var found = 0
    var position = 0
    while found < 6 && position < body.count {
      if body[position] == UInt8(ascii: " ") {
        withUnsafeMutableBytes(of: &spaces) { $0.storeBytes(of: position, toByteOffset: found * 8, as: Int.self) }
        found += 1
      }
      position += 1
    }
    guard found == 6 else { throw malformed("fewer than seven fields") }
    text = UnsafeRawBufferPointer(rebasing: body[(spaces.5 + 1)...])
    var index: UInt64 = 0
    guard spaces.0 > 0, spaces.0 <= 19 else { throw malformed("bad entry number") }
    for j in 0..<spaces.0 {
      let digit = body[j] &- UInt8(ascii: "0")
      guard digit < 10 else { throw malformed("bad entry number") }
      index = index * 10 + UInt64(digit)
    }
    self.index = index
    let kindBytes = UnsafeRawBufferPointer(rebasing: body[(spaces.1 + 1)..<spaces.2])
    guard let kind = LogEntryKind.byName.first(where: { kindBytes.elementsEqual($0.name) })?.kind else {
      throw malformed("unknown entry kind '\(String(decoding: kindBytes, as: UTF8.self))'")
    }
    self.kind = kind
    timeField = UnsafeRawBufferPointer(rebasing: body[(spaces.0 + 1)..<spaces.1])
    session = UnsafeRawBufferPointer(rebasing: body[(spaces.2 + 1)..<spaces.3])
    sequenceField = UnsafeRawBufferPointer(rebasing: body[(spaces.4 + 1)..<spaces.5])
    peer = UnsafeRawBufferPointer(rebasing: body[(spaces.3 + 1)..<spaces.4])
  }

  /// §9.4 step 3: the line must have the index `expected`; otherwise it is reordered (an earlier
  /// index, or the expected entry right after it: a swap) or entries are missing.
  static func checkIndex(
    _ parsed: LogLine, expected nextIndex: UInt64, lineNumber: Int, nextLine: UnsafeRawBufferPointer?
  ) throws {
    guard parsed.index != nextIndex else { return }
    if parsed.index < nextIndex {
      throw LogDefect(
        line: lineNumber, kind: .reordered,
        detail: "entry \(parsed.index) appears again after entry \(nextIndex - 1) (duplicated or moved)")
    }
    let next = nextLine.flatMap { try? LogLine($0, lineNumber: lineNumber + 1) }
    if let next, next.index == nextIndex {
      throw LogDefect(
        line: lineNumber, kind: .reordered, detail: "entry \(parsed.index) comes before entry \(nextIndex)")
    }
    let missing = parsed.index - nextIndex
    throw LogDefect(
      line: lineNumber, kind: .deleted,
      detail:
        "entry \(parsed.index) where entry \(nextIndex) was expected: \(missing) entr\(missing == 1 ? "y" : "ies") missing"
    )
  }
}

extension LogVerifier {
  /// Verifies consecutive complete `lines` (numbered from `firstLineNumber`) with the work split
  /// in parts: once the key chain is computed (a hash per entry, in order), each entry's tag
  /// depends only on its own key, its line and the tag written on the line before, so lines can
  /// be parsed and their tags checked in any order. `forEachPart(count, body)` runs
  /// `body(0..<count)`, possibly in parallel. If anything is wrong, the batch is checked again in
  /// order by `verify`, so that the defect reported (line and kind) is exactly the sequential one.
  public func verifyBatch(
    _ lines: [UnsafeRawBufferPointer], firstLineNumber: Int, following: UnsafeRawBufferPointer?,
    parts: Int, forEachPart: (Int, (Int) -> Void) -> Void
  ) throws {
    let count = lines.count
    guard count > 0 else { return }
    // The key chain K(n) … K(n+count−1), one hash each: computed ahead during the previous
    // batch when that batch was at least as long, else now. `running` ends as K(n+count).
    let keys: SecretBytes
    let running: SecretBytes
    if let ahead, aheadStart == nextIndex, aheadCount >= count {
      keys = ahead
      running = keys.slice(((count - 1) * SessionLog.keySize)..<(count * SessionLog.keySize))
      SessionLog.evolveInPlace(running)
    } else {
      running = key.slice(0..<key.count)
      keys = Self.keyChain(from: running, count: count)
    }
    var nextAhead: SecretBytes?
    // Parallel: parse and check each part's lines; keep the opening and closing entries.
    struct PartResult {
      var ok = false
      var lastTag: [UInt8] = []
      var sessionEvents: [(kind: LogEntryKind, session: [UInt8])] = []
    }
    let firstIndex = nextIndex
    let startTag = previousTag
    let mac = try HMACSHA256(key: running)
    var results = [PartResult](repeating: PartResult(), count: parts)
    let aheadFrom = running.slice(0..<running.count)
    results.withUnsafeMutableBufferPointer { results in
      // One more task than parts: the key chain of the next batch, assumed as long as this one.
      forEachPart(parts + 1) { part in
        if part == parts {
          nextAhead = Self.keyChain(from: aheadFrom, count: count)
          return
        }
        let range = (count * part / parts)..<(count * (part + 1) / parts)
        guard !range.isEmpty else {
          results[part].ok = true
          return
        }
        guard let mac = part == 0 ? mac : try? HMACSHA256(key: running) else { return }
        let entryKey = SecretBytes(count: SessionLog.keySize)
        var previous = startTag
        if range.lowerBound > 0 {
          guard let before = try? LogLine(lines[range.lowerBound - 1], lineNumber: 0) else { return }
          previous = before.tag
        }
        var result = PartResult()
        for i in range {
          guard let line = try? LogLine(lines[i], lineNumber: 0), line.index == firstIndex + UInt64(i) else { return }
          keys.withUnsafeBytes { k in
            entryKey.withUnsafeMutableBytes {
              $0.baseAddress!.copyMemory(from: k.baseAddress! + i * SessionLog.keySize, byteCount: SessionLog.keySize)
            }
          }
          guard let expected = try? SessionLog.tag(body: line.body, previousTag: previous, key: entryKey, mac: mac),
            ConstantTime.equals(expected, line.tag)
          else { return }
          if line.kind != .sent && line.kind != .received {
            result.sessionEvents.append((line.kind, Array(line.session)))
          }
          previous = line.tag
        }
        result.ok = true
        result.lastTag = previous
        results[part] = result
      }
    }
    if results.allSatisfy({ $0.ok }) {
      running.withUnsafeBytes { r in key.withUnsafeMutableBytes { $0.copyMemory(from: r) } }
      ahead = nextAhead
      aheadStart = nextIndex + UInt64(count)
      aheadCount = nextAhead == nil ? 0 : count
      nextIndex += UInt64(count)
      previousTag = results.last(where: { !$0.lastTag.isEmpty })?.lastTag ?? previousTag
      for event in results.flatMap({ $0.sessionEvents }) { trackSession(kind: event.kind, session: event.session) }
      return
    }
    // Something is wrong: find and name it exactly, in order.
    for (offset, line) in lines.enumerated() {
      let next = offset + 1 < count ? lines[offset + 1] : following
      try verify(line: line, lineNumber: firstLineNumber + offset, nextLine: next)
    }
  }

  /// `count` consecutive keys starting with `first`; `first` ends as the key after the last.
  fileprivate static func keyChain(from first: SecretBytes, count: Int) -> SecretBytes {
    let keys = SecretBytes(count: SessionLog.keySize * count)
    keys.withUnsafeMutableBytes { out in
      for i in 0..<count {
        first.withUnsafeBytes {
          (out.baseAddress! + i * SessionLog.keySize).copyMemory(from: $0.baseAddress!, byteCount: SessionLog.keySize)
        }
        SessionLog.evolveInPlace(first)
      }
    }
    return keys
  }
}

@inline(__always)
func lowercaseHexValue(_ c: UInt8) -> UInt8? {
  switch c {
  case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
  case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
  default: return nil
  }
}
