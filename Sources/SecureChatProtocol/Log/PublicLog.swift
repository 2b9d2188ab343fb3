import SecureChatCrypto

/// The public audit mode of the session log (docs/FORMATS.md §9.8): the same lines as §9.2, but
/// chained by SHA-256 rather than an HMAC, so that anyone can recompute the chain, and sealed by
/// **checkpoints**: entries of kind `checkpoint` whose text carries an Ed25519 signature over the
/// chain so far and the public key of the next checkpoint. The first checkpoint is signed by the
/// key whose public half is the **audit key** (`scaudit1…`); each checkpoint certifies the next
/// key, and the writer then replaces its signing key by the next one (a one-way hash of it), so
/// a thief of the key file cannot sign again any checkpoint already written.
public enum PublicLog {
  static let entryLabel = Array("SecureChat v1 public log entry".utf8)
  static let checkpointLabel = Array("SecureChat v1 log checkpoint".utf8)
  static let seedEvolutionLabel = Array("SecureChat v1 log signing key evolution".utf8)

  /// §9.8: a checkpoint at least every this many entries (`--checkpoint-entries`).
  public static let defaultCheckpointEntries: UInt64 = 1000
  /// §9.8: and at least every this many seconds while a session is open (`--checkpoint-seconds`).
  public static let defaultCheckpointSeconds = 60

  /// tag(i) = SHA-256(label ‖ tag(i−1) ‖ body(i)).
  public static func tag(body: UnsafeRawBufferPointer, previousTag: [UInt8]) -> [UInt8] {
    var tag = [UInt8](repeating: 0, count: SessionLog.tagSize)
    entryLabel.withUnsafeBytes { label in
      previousTag.withUnsafeBytes { previous in
        tag.withUnsafeMutableBytes { SHA256.hash(label, previous, body, into: $0.baseAddress!) }
      }
    }
    return tag
  }

  /// seed(J+1) = SHA-256(label ‖ seed(J)), in the same buffer: no copy of the old seed is left.
  public static func evolveSeedInPlace(_ seed: SecretBytes) {
    seedEvolutionLabel.withUnsafeBytes { label in
      seed.withUnsafeMutableBytes { s in SHA256.hash(label, UnsafeRawBufferPointer(s), into: s.baseAddress!) }
    }
  }

  /// The public key of the signing key after `seed` (the one the checkpoint signed by `seed`
  /// certifies), computed without changing `seed`.
  static func nextPublicKey(after seed: SecretBytes) throws -> [UInt8] {
    let next = seed.slice(0..<seed.count)
    evolveSeedInPlace(next)
    return try Ed25519SigningKey(seed: next).publicKey
  }

  /// What a checkpoint's signature covers: label ‖ tag(i−1) ‖ its body up to and including
  /// `signature ` (everything but the 128 hex digits of the signature).
  static func signedMessage(previousTag: [UInt8], unsignedBody: some Collection<UInt8>) -> [UInt8] {
    checkpointLabel + previousTag + Array(unsignedBody)
  }

  static let signatureHexCount = 2 * Ed25519SigningKey.signatureSize
  static let nextWord = Array("next ".utf8)
  static let signatureWord = Array(" signature ".utf8)

  /// A checkpoint's text: `next HEX64 signature HEX128`, parsed strictly.
  struct CheckpointText {
    let nextKey: [UInt8]
    let signature: [UInt8]

    init?(_ text: UnsafeRawBufferPointer) {
      let keyHex = 2 * Ed25519PublicKey.keySize
      guard text.count == nextWord.count + keyHex + signatureWord.count + signatureHexCount,
        text.starts(with: nextWord),
        text[(nextWord.count + keyHex)...].starts(with: signatureWord),
        let key = lowercaseHex(text[nextWord.count..<(nextWord.count + keyHex)]),
        let signature = lowercaseHex(text[(text.count - signatureHexCount)...])
      else { return nil }
      nextKey = key
      self.signature = signature
    }
  }

  static func lowercaseHex(_ hex: Slice<UnsafeRawBufferPointer>) -> [UInt8]? {
    guard hex.count % 2 == 0 else { return nil }
    var out = [UInt8]()
    out.reserveCapacity(hex.count / 2)
    var index = hex.startIndex
    while index < hex.endIndex {
      guard let high = lowercaseHexValue(hex[index]), let low = lowercaseHexValue(hex[index + 1]) else { return nil }
      out.append(high << 4 | low)
      index += 2
    }
    return out
  }
}

/// Where a public log's writer is (the key file of type `log-sign`, FORMATS.md §1.2): besides
/// the entry position, the number of checkpoints written (the epoch of the current signing
/// key), how many entries the last one covers, and when it was written.
public struct CheckpointPosition: Sendable, Equatable {
  public let epoch: UInt64
  public let sealedCount: UInt64
  /// Seconds since 1970 (UTC) of the last checkpoint; 0 before the first.
  public let time: UInt64

  public init(epoch: UInt64, sealedCount: UInt64, time: UInt64) {
    self.epoch = epoch
    self.sealedCount = sealedCount
    self.time = time
  }
}

/// The writer's state in public mode: the current signing seed (evolved in place at every
/// checkpoint), the chain position and the checkpoint position.
public final class PublicLogState {
  public let seed: SecretBytes
  public private(set) var nextIndex: UInt64
  public private(set) var previousTag: [UInt8]
  public private(set) var checkpoint: CheckpointPosition

  /// Takes a copy of `seed`.
  public init(seed: SecretBytes, nextIndex: UInt64, previousTag: [UInt8], checkpoint: CheckpointPosition) {
    self.seed = seed.slice(0..<seed.count)
    self.nextIndex = nextIndex
    self.previousTag = previousTag
    self.checkpoint = checkpoint
  }

  /// Entries written since the last checkpoint.
  public var unsealedCount: UInt64 { nextIndex - checkpoint.sealedCount }

  public func seal(_ entry: LogEntry) -> [UInt8] {
    var line = entry.body(index: nextIndex)
    let tag = line.withUnsafeBytes { PublicLog.tag(body: $0, previousTag: previousTag) }
    line += Array(" \(tag.hexString)\n".utf8)
    advance(pastEntryWithTag: tag)
    return line
  }

  /// The next checkpoint, signed with the current seed, which is then replaced by the next one.
  /// `time` is the entry's time field; `unixTime` is kept in the key file for the heartbeat.
  public func sealCheckpoint(time: String, unixTime: UInt64) throws -> [UInt8] {
    let signer = try Ed25519SigningKey(seed: seed)
    let next = try PublicLog.nextPublicKey(after: seed)
    var body = Array("\(nextIndex) \(time) \(LogEntryKind.checkpoint.rawValue) - - \(checkpoint.epoch) ".utf8)
    body += PublicLog.nextWord + Array(next.hexString.utf8) + PublicLog.signatureWord
    let signature = try signer.sign(PublicLog.signedMessage(previousTag: previousTag, unsignedBody: body))
    body += Array(signature.hexString.utf8)
    let tag = body.withUnsafeBytes { PublicLog.tag(body: $0, previousTag: previousTag) }
    let index = nextIndex
    advance(pastEntryWithTag: tag)
    PublicLog.evolveSeedInPlace(seed)
    checkpoint = CheckpointPosition(epoch: checkpoint.epoch + 1, sealedCount: index + 1, time: unixTime)
    return body + Array(" \(tag.hexString)\n".utf8)
  }

  /// Moves past an entry already in the log (a writer finishing an interrupted append).
  public func advance(pastEntryWithTag tag: [UInt8]) {
    nextIndex += 1
    previousTag = tag
  }

  /// Moves past a checkpoint already in the log: checks that it is the one this state would
  /// sign (its epoch, signed by this seed, certifying the next key), then evolves the seed.
  /// False if it is not: the log is then out of step with the key.
  public func advance(pastCheckpoint line: LogLine, unixTime: UInt64) throws -> Bool {
    guard line.kind == .checkpoint, line.index == nextIndex,
      let parsed = PublicLogVerifier.parseCheckpoint(line), parsed.epoch == checkpoint.epoch,
      let key = Ed25519PublicKey(rawRepresentation: try Ed25519SigningKey(seed: seed).publicKey),
      key.isValidSignature(
        parsed.text.signature,
        for: PublicLog.signedMessage(
          previousTag: previousTag, unsignedBody: line.body.dropLast(PublicLog.signatureHexCount))),
      parsed.text.nextKey == (try PublicLog.nextPublicKey(after: seed))
    else { return false }
    let index = nextIndex
    advance(pastEntryWithTag: line.tag)
    PublicLog.evolveSeedInPlace(seed)
    checkpoint = CheckpointPosition(epoch: checkpoint.epoch + 1, sealedCount: index + 1, time: unixTime)
    return true
  }
}

/// What the last verified checkpoint of a public log says.
public struct VerifiedCheckpoint: Sendable, Equatable {
  public let epoch: UInt64
  /// The checkpoint's own index: it covers the entries before it, and itself.
  public let index: UInt64
  public let tag: [UInt8]
  /// Its time field, as written (§9.2).
  public let time: String
  public let lineNumber: Int
}

/// Verifies a public log line by line from the audit key (§9.8). Sans I/O: feed it complete lines.
public final class PublicLogVerifier {
  public fileprivate(set) var nextIndex: UInt64 = 0
  public fileprivate(set) var previousTag = SessionLog.initialPreviousTag
  /// The key the next checkpoint must be signed with: the audit key, then each certified one.
  fileprivate var signingKey: Ed25519PublicKey
  public fileprivate(set) var epoch: UInt64 = 0
  public fileprivate(set) var newestCheckpoint: VerifiedCheckpoint?
  /// Sessions with an `open` entry and no `close` yet (as LogVerifier counts them).
  public fileprivate(set) var openDirections: Set<[UInt8]> = []

  public init(auditKey: AuditKey) {
    signingKey = Ed25519PublicKey(rawRepresentation: auditKey.bytes)!
  }

  /// Entries after the newest checkpoint: chained, but signed by nothing yet.
  public var unsealedCount: UInt64 { nextIndex - (newestCheckpoint.map { $0.index + 1 } ?? 0) }

  static func parseCheckpoint(_ line: LogLine) -> (epoch: UInt64, text: PublicLog.CheckpointText)? {
    // §9.8.3: no session, no peer; the number in seq.
    let dash = [UInt8(ascii: "-")]
    guard line.session.elementsEqual(dash), line.peer.elementsEqual(dash), let epoch = line.sequence,
      let text = PublicLog.CheckpointText(line.text)
    else { return nil }
    return (epoch, text)
  }

  /// Checks one line (without its newline), numbered from 1.
  public func verify(line: UnsafeRawBufferPointer, lineNumber: Int, nextLine: UnsafeRawBufferPointer?) throws {
    let parsed = try LogLine(line, lineNumber: lineNumber)
    try LogLine.checkIndex(parsed, expected: nextIndex, lineNumber: lineNumber, nextLine: nextLine)
    let expected = PublicLog.tag(body: parsed.body, previousTag: previousTag)
    guard ConstantTime.equals(expected, parsed.tag) else {
      if let nextLine, let next = try? LogLine(nextLine, lineNumber: lineNumber + 1), next.index == parsed.index,
        ConstantTime.equals(PublicLog.tag(body: next.body, previousTag: previousTag), next.tag)
      {
        throw LogDefect(line: lineNumber, kind: .inserted, detail: "a line that was not written by the logger")
      }
      throw LogDefect(
        line: lineNumber, kind: .modified, detail: "entry \(parsed.index) does not follow the chain (changed)")
    }
    if parsed.kind == .checkpoint { try acceptCheckpoint(parsed, lineNumber: lineNumber) }
    previousTag = parsed.tag
    nextIndex += 1
    track(kind: parsed.kind, session: Array(parsed.session))
  }

  fileprivate func track(kind: LogEntryKind, session: [UInt8]) {
    switch kind {
    case .sendOpen: openDirections.insert(session + [0])
    case .sendClose: openDirections.remove(session + [0])
    case .receiveOpen: openDirections.insert(session + [1])
    case .receiveClose: openDirections.remove(session + [1])
    default: break
    }
  }

  private func acceptCheckpoint(_ line: LogLine, lineNumber: Int) throws {
    guard let (claimed, text) = Self.parseCheckpoint(line) else {
      throw LogDefect(
        line: lineNumber, kind: .malformed,
        detail: "a checkpoint needs session and peer '-', its number, and 'next KEY signature SIGNATURE'")
    }
    if claimed != epoch {
      throw LogDefect(
        line: lineNumber, kind: claimed > epoch ? .deleted : .reordered,
        detail: claimed > epoch
          ? "checkpoint \(claimed) where checkpoint \(epoch) was expected: \(claimed - epoch) checkpoint(s) missing"
          : "checkpoint \(claimed) appears again after checkpoint \(epoch - 1)")
    }
    let message = PublicLog.signedMessage(
      previousTag: previousTag, unsignedBody: line.body.dropLast(PublicLog.signatureHexCount))
    guard signingKey.isValidSignature(text.signature, for: message) else {
      throw LogDefect(
        line: lineNumber, kind: .forged,
        detail: "checkpoint \(epoch) is not signed by the key certified for it: an entry it covers was changed,"
          + " or it was made without the key")
    }
    guard let next = Ed25519PublicKey(rawRepresentation: text.nextKey) else {
      throw LogDefect(line: lineNumber, kind: .malformed, detail: "checkpoint \(epoch) names no valid next key")
    }
    signingKey = next
    newestCheckpoint = VerifiedCheckpoint(
      epoch: epoch, index: line.index, tag: line.tag, time: line.time, lineNumber: lineNumber)
    epoch += 1
  }
}

extension PublicLogVerifier {
  /// Verifies consecutive complete `lines` (numbered from `firstLineNumber`) with the work split
  /// in parts, as `LogVerifier.verifyBatch` does: each entry's tag depends only on its body and on
  /// the tag written on the line before, and each checkpoint's key is the `next` of the
  /// checkpoint before it, so once the checkpoints are put in order (a cheap pass) the lines and
  /// signatures can be checked in any order. If anything is wrong, the batch is checked again
  /// in order by `verify`, so that the defect reported is exactly the sequential one.
  public func verifyBatch(
    _ lines: [UnsafeRawBufferPointer], firstLineNumber: Int, following: UnsafeRawBufferPointer?,
    parts: Int, forEachPart: (Int, (Int) -> Void) -> Void
  ) throws {
    let count = lines.count
    guard count > 0 else { return }
    struct Checkpoint {
      var offset: Int
      var epoch: UInt64
      var text: PublicLog.CheckpointText
      var previousTag: [UInt8]
      var time: String
      var tag: [UInt8]
      var index: UInt64
    }
    struct PartResult {
      var ok = false
      var lastTag: [UInt8] = []
      var checkpoints: [Checkpoint] = []
      var sessionEvents: [(kind: LogEntryKind, session: [UInt8])] = []
    }
    let firstIndex = nextIndex
    let startTag = previousTag
    var results = [PartResult](repeating: PartResult(), count: parts)
    results.withUnsafeMutableBufferPointer { results in
      forEachPart(parts) { part in
        let range = (count * part / parts)..<(count * (part + 1) / parts)
        guard !range.isEmpty else {
          results[part].ok = true
          return
        }
        var previous = startTag
        if range.lowerBound > 0 {
          guard let before = try? LogLine(lines[range.lowerBound - 1], lineNumber: 0) else { return }
          previous = before.tag
        }
        var result = PartResult()
        for i in range {
          guard let line = try? LogLine(lines[i], lineNumber: 0), line.index == firstIndex + UInt64(i),
            ConstantTime.equals(PublicLog.tag(body: line.body, previousTag: previous), line.tag)
          else { return }
          switch line.kind {
          case .sent, .received: break
          case .checkpoint:
            guard let (epoch, text) = Self.parseCheckpoint(line) else { return }
            result.checkpoints.append(
              Checkpoint(
                offset: i, epoch: epoch, text: text, previousTag: previous, time: line.time, tag: line.tag,
                index: line.index))
          default: result.sessionEvents.append((line.kind, Array(line.session)))
          }
          previous = line.tag
        }
        result.ok = true
        result.lastTag = previous
        results[part] = result
      }
    }
    // In order: the checkpoints' numbers, and the key each must be signed with.
    var allGood = results.allSatisfy(\.ok)
    var keys: [Ed25519PublicKey] = []
    var checkpoints: [Checkpoint] = []
    if allGood {
      checkpoints = results.flatMap(\.checkpoints)
      var key = signingKey
      for (n, checkpoint) in checkpoints.enumerated() {
        guard checkpoint.epoch == epoch + UInt64(n),
          let next = Ed25519PublicKey(rawRepresentation: checkpoint.text.nextKey)
        else {
          allGood = false
          break
        }
        keys.append(key)
        key = next
      }
    }
    if allGood && !checkpoints.isEmpty {
      var valid = [Bool](repeating: false, count: checkpoints.count)
      valid.withUnsafeMutableBufferPointer { valid in
        forEachPart(parts) { part in
          let range = (checkpoints.count * part / parts)..<(checkpoints.count * (part + 1) / parts)
          for n in range {
            let checkpoint = checkpoints[n]
            let body = LogLine.bodyWithoutSignature(lines[checkpoint.offset])
            valid[n] = keys[n].isValidSignature(
              checkpoint.text.signature,
              for: PublicLog.signedMessage(previousTag: checkpoint.previousTag, unsignedBody: body))
          }
        }
      }
      allGood = valid.allSatisfy { $0 }
    }
    if allGood {
      for checkpoint in checkpoints {
        signingKey = Ed25519PublicKey(rawRepresentation: checkpoint.text.nextKey)!
        newestCheckpoint = VerifiedCheckpoint(
          epoch: checkpoint.epoch, index: checkpoint.index, tag: checkpoint.tag, time: checkpoint.time,
          lineNumber: firstLineNumber + checkpoint.offset)
        epoch += 1
      }
      nextIndex += UInt64(count)
      previousTag = results.last(where: { !$0.lastTag.isEmpty })?.lastTag ?? previousTag
      for event in results.flatMap(\.sessionEvents) { track(kind: event.kind, session: event.session) }
      return
    }
    // Something is wrong: find and name it exactly, in order.
    for (offset, line) in lines.enumerated() {
      let next = offset + 1 < count ? lines[offset + 1] : following
      try verify(line: line, lineNumber: firstLineNumber + offset, nextLine: next)
    }
  }
}

extension LogLine {
  /// A checkpoint line's body up to and including `signature ` (what its signature covers).
  static func bodyWithoutSignature(_ line: UnsafeRawBufferPointer) -> Slice<UnsafeRawBufferPointer> {
    line[0..<(line.count - SessionLog.tagSize * 2 - 1 - PublicLog.signatureHexCount)]
  }
}
