import SecureChatCrypto
import SecureChatProtocol

// MARK: - public logs (docs/FORMATS.md §9.8)

extension FuzzTarget {
  /// The control byte's bits 0–2 fix the fuzzed log up as far as the key holder would (see
  /// `Fixtures.fixPublicLog`), so that the checkpoint parser and the signature check see fuzzed
  /// fields behind a valid chain and valid signatures.
  static let publicLogVerify = FuzzTarget(
    name: "public-log-verify",
    summary: "PublicLogVerifier over a whole public log (its checkpoints parsed and checked), and the writer's"
      + " catch-up (PublicLogState.advance) over the same lines",
    run: runPublicLogVerify, seeds: seedsPublicLogVerify)

  @Sendable static func runPublicLogVerify(_ data: [UInt8]) -> String {
    let (control, body) = splitControl(data)
    var log = body
    Fixtures.fixPublicLog(&log, tags: control & 1 != 0, signatures: control & 2 != 0, nextKeys: control & 4 != 0)
    var lines = log.split(separator: 0x0a, omittingEmptySubsequences: false).map(Array.init)
    let partial = lines.removeLast()
    let verifier = PublicLogVerifier(auditKey: Fixtures.publicLogAuditKey)
    // The writer of the fixed seed follows the same lines as one finishing an interrupted
    // append does (§9.8.3), for as long as they are the ones it would write.
    let writer = PublicLogState(
      seed: SecretBytes(copying: Fixtures.publicLogSeeds[0]), nextIndex: 0,
      previousTag: SessionLog.initialPreviousTag, checkpoint: CheckpointPosition(epoch: 0, sealedCount: 0, time: 0))
    var writerInStep = true
    var checkpointLines: [Int] = []
    var defect: LogDefect?
    for (offset, line) in lines.enumerated() {
      let lineNumber = offset + 1
      let next = offset + 1 < lines.count ? lines[offset + 1] : nil
      let before = (verifier.nextIndex, verifier.previousTag, verifier.epoch)
      do {
        try FuzzTarget.withPointers(to: [line] + (next.map { [$0] } ?? [])) { pointers in
          try verifier.verify(
            line: pointers[0], lineNumber: lineNumber, nextLine: pointers.count > 1 ? pointers[1] : nil)
        }
      } catch {
        defect = (error as! LogDefect)
        require(defect!.line == lineNumber, "a defect reported at line \(defect!.line), checking line \(lineNumber)")
        // A refused line changes nothing.
        require(
          (verifier.nextIndex, verifier.previousTag, verifier.epoch) == before, "a refused line moved the verifier")
      }
      // The writer, still where the verifier was before this line, moves past it exactly when
      // the verifier accepts it and (for a checkpoint) it certifies the writer's next key.
      if writerInStep {
        require(
          writer.nextIndex == before.0 && writer.previousTag == before.1 && writer.checkpoint.epoch == before.2,
          "the writer and the verifier are out of step")
        let moved = line.withUnsafeBytes { raw -> Bool in
          guard let parsed = try? LogLine(raw, lineNumber: lineNumber), parsed.index == writer.nextIndex,
            PublicLog.tag(body: parsed.body, previousTag: writer.previousTag) == parsed.tag
          else { return false }
          if parsed.kind == .checkpoint { return (try? writer.advance(pastCheckpoint: parsed, unixTime: 1)) ?? false }
          writer.advance(pastEntryWithTag: parsed.tag)
          return true
        }
        if defect != nil {
          require(!moved, "the writer moved past line \(lineNumber), which the verifier refused: \(defect!)")
        } else if !moved {
          // Only a checkpoint certifying another next key than the writer's own.
          require(
            verifier.newestCheckpoint?.lineNumber == lineNumber,
            "the writer refused line \(lineNumber), which the verifier accepted")
        }
        writerInStep = moved
      }
      if defect != nil { break }
      if verifier.newestCheckpoint?.lineNumber == lineNumber { checkpointLines.append(lineNumber) }
    }
    if defect == nil && !partial.isEmpty {
      defect = LogDefect(line: lines.count + 1, kind: .torn, detail: "the last line is incomplete")
    }
    guard defect == nil else { return outcome(defect!) }

    // An intact log: every line an entry, each checkpoint numbered in order, the tail unsealed.
    require(verifier.nextIndex == UInt64(lines.count), "entries counted: \(verifier.nextIndex) of \(lines.count)")
    require(verifier.epoch == UInt64(checkpointLines.count), "checkpoints counted")
    if let newest = verifier.newestCheckpoint {
      require(newest.epoch + 1 == verifier.epoch && newest.lineNumber == checkpointLines.last, "the newest checkpoint")
      require(newest.index == UInt64(newest.lineNumber - 1), "the newest checkpoint's index")
      require(verifier.unsealedCount == verifier.nextIndex - newest.index - 1, "unsealed entries")
      // Cut back right after its newest checkpoint (§9.8.5), the log still verifies, with nothing unsealed.
      let cut = PublicLogVerifier(auditKey: Fixtures.publicLogAuditKey)
      for (offset, line) in lines[0..<newest.lineNumber].enumerated() {
        let next = offset + 1 < newest.lineNumber ? [lines[offset + 1]] : []
        do {
          try FuzzTarget.withPointers(to: [line] + next) { pointers in
            try cut.verify(line: pointers[0], lineNumber: offset + 1, nextLine: pointers.count > 1 ? pointers[1] : nil)
          }
        } catch {
          require(false, "the log cut after its newest checkpoint fails: \(error)")
        }
      }
      require(cut.unsealedCount == 0 && cut.newestCheckpoint == newest, "the log cut after its newest checkpoint")
    } else {
      require(verifier.unsealedCount == verifier.nextIndex, "unsealed entries without a checkpoint")
    }
    if writerInStep {
      require(writer.nextIndex == verifier.nextIndex && writer.previousTag == verifier.previousTag, "the writer's end")
    }
    return "success"
  }

  @Sendable static func seedsPublicLogVerify(_ vectors: Vectors) -> [Seed] {
    withControl(
      vectors.data(ofKind: "public-log"), [("", 0), ("-fixed", 1), ("-signed", 3), ("-certified", 7)])
  }
}

extension Fixtures {
  /// seed(0) of the public log vectors (bytes 0x00 to 0x1f, FORMATS.md §9.8.7) and the seeds
  /// after it (§9.8.1), for the fix-up of the public-log-verify target.
  static let publicLogSeeds: [[UInt8]] = {
    var seeds = [(0..<32).map { UInt8($0) }]
    for _ in 1..<maxFixedCheckpoints {
      seeds.append(SHA256.hash(Array("SecureChat v1 log signing key evolution".utf8) + seeds.last!))
    }
    return seeds
  }()
  static let publicLogPublicKeys: [[UInt8]] = publicLogSeeds.map {
    try! Ed25519SigningKey(seed: SecretBytes(copying: $0)).publicKey
  }
  static let publicLogAuditKey = try! AuditKey(bytes: publicLogPublicKeys[0])
  static let maxFixedCheckpoints = 64

  /// A public log fixed up line by line (the first 256 lines), each line against the lines
  /// before it as fixed: with `nextKeys`, a checkpoint line whose text has the shape of §9.8.3
  /// gets the next key of the seed chain (of the checkpoint number the verifier expects there);
  /// with `signatures`, such a line gets the signature of that checkpoint's seed; with `tags`
  /// (or either of the others), every line that parses gets the tag of §9.8.2.
  static func fixPublicLog(_ log: inout [UInt8], tags: Bool, signatures: Bool, nextKeys: Bool) {
    guard tags || signatures || nextKeys else { return }
    let tagHex = SessionLog.tagSize * 2
    let signatureHex = 128
    let textLength = "next ".utf8.count + 64 + " signature ".utf8.count + signatureHex
    var previous = SessionLog.initialPreviousTag
    var start = 0
    var position = 0
    var epoch = 0
    while position < maxFixedLogLines, let newline = log[start...].firstIndex(of: 0x0a) {
      let parsed: (isCheckpoint: Bool, bodyEnd: Int)? = log[start..<newline].withUnsafeBytes { line in
        guard let parsed = try? LogLine(line, lineNumber: position + 1) else { return nil }
        return (parsed.kind == .checkpoint && parsed.text.count == textLength, newline - tagHex - 1)
      }
      if let parsed {
        if parsed.isCheckpoint && epoch < maxFixedCheckpoints - 1 {
          let textStart = parsed.bodyEnd - textLength
          if nextKeys {
            log.replaceSubrange(
              textStart + 5..<textStart + 5 + 64, with: Array(publicLogPublicKeys[epoch + 1].hexString.utf8))
          }
          if signatures {
            let message =
              Array("SecureChat v1 log checkpoint".utf8) + previous + log[start..<(parsed.bodyEnd - signatureHex)]
            let signature = try! Ed25519SigningKey(seed: SecretBytes(copying: publicLogSeeds[epoch])).sign(message)
            log.replaceSubrange(parsed.bodyEnd - signatureHex..<parsed.bodyEnd, with: Array(signature.hexString.utf8))
          }
          epoch += 1
        }
        let tag = log[start..<parsed.bodyEnd].withUnsafeBytes { PublicLog.tag(body: $0, previousTag: previous) }
        log.replaceSubrange(newline - tagHex..<newline, with: Array(tag.hexString.utf8))
        previous = tag
      }
      start = newline + 1
      position += 1
    }
  }
}
