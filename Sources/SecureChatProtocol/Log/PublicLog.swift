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
    let hasher = SHA256()
    hasher.update(entryLabel)
    hasher.update(previousTag)
    hasher.update(body)
    return hasher.finalize()
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
  public private(set) var nextIndex: UInt64 = 0
  public private(set) var previousTag = SessionLog.initialPreviousTag
  /// The key the next checkpoint must be signed with: the audit key, then each certified one.
  private var signingKey: Ed25519PublicKey
  public private(set) var epoch: UInt64 = 0
  public private(set) var newestCheckpoint: VerifiedCheckpoint?
  /// Sessions with an `open` entry and no `close` yet (as LogVerifier counts them).
  public private(set) var openDirections: Set<[UInt8]> = []

  public init(auditKey: AuditKey) {
    signingKey = Ed25519PublicKey(rawRepresentation: auditKey.bytes)!
  }

  /// Entries after the newest checkpoint: chained, but signed by nothing yet.
  public var unsealedCount: UInt64 { nextIndex - (newestCheckpoint.map { $0.index + 1 } ?? 0) }

  static func parseCheckpoint(_ line: LogLine) -> (epoch: UInt64, text: PublicLog.CheckpointText)? {
    guard let epoch = line.sequence, let text = PublicLog.CheckpointText(line.text) else { return nil }
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
    switch parsed.kind {
    case .sendOpen: openDirections.insert(Array(parsed.session) + [0])
    case .sendClose: openDirections.remove(Array(parsed.session) + [0])
    case .receiveOpen: openDirections.insert(Array(parsed.session) + [1])
    case .receiveClose: openDirections.remove(Array(parsed.session) + [1])
    default: break
    }
  }

  private func acceptCheckpoint(_ line: LogLine, lineNumber: Int) throws {
    guard let (claimed, text) = Self.parseCheckpoint(line) else {
      throw LogDefect(
        line: lineNumber, kind: .malformed, detail: "a checkpoint needs its number and 'next KEY signature SIGNATURE'")
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
