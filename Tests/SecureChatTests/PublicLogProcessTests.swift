import Foundation
import SecureChatCrypto
import XCTest

@testable import SecureChatProtocol

#if canImport(Glibc)
  import Glibc
#endif

/// Public audit logs (issue 16, docs/FORMATS.md §9.8) through the real tools: logs written by
/// `sc-seal -s --log` with a `log-sign` key from `sc-keygen --log --public`, checked by
/// `sc-logcheck -p AUDITKEY`. Freshness (`--state`, `--max-age`, `--max-unsealed`), the off-host
/// copy of the checkpoints against a thief of the key file, forward security against that thief,
/// the heartbeat of an idle session, and writers killed with SIGKILL at random points.
///
/// Every process a test starts is killed and reaped by its PID (`BackgroundTool`); sessions are
/// made in memory (no network).
final class PublicLogProcessTests: XCTestCase {
  private var directory = ""

  override func setUpWithError() throws {
    try super.setUpWithError()
    for tool in ToolRunner.toolNames { _ = try ToolRunner.path(of: tool) }
    // A writer killed while the test feeds it must not kill the test runner.
    signal(SIGPIPE, SIG_IGN)
    let base = NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/"
    var template = Array((base + "sc-publiclog-XXXXXX").utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
      throw ToolRunnerError(description: "mkdtemp failed")
    }
    directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  override func tearDownWithError() throws {
    if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
    directory = ""
    try super.tearDownWithError()
  }

  // MARK: - Fixture

  private func path(_ name: String) -> String { directory + "/" + name }

  private func read(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ToolRunnerError(description: "cannot read \(path)")
    }
    return Array(data)
  }

  private func write(_ path: String, _ bytes: [UInt8]) throws {
    unlink(path)
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: 0o600])
    else { throw ToolRunnerError(description: "cannot write \(path)") }
  }

  private func join(_ lines: some Sequence<[UInt8]>) -> [UInt8] { lines.flatMap { $0 + [0x0a] } }

  /// The session file of alice (the sending side) of a session made by the handshake state
  /// machines back to back; each writer gets a copy (`ToolRunner.sessionCopy`).
  private func makeSession() throws -> String {
    let psk = SecretBytes.random(count: 32)
    let initiator = try Handshake(role: .initiator, psk: psk, localName: Array("alice".utf8))
    let responder = try Handshake(role: .responder, psk: psk, localName: Array("bob".utf8))
    let i1 = try XCTUnwrap(initiator.start())
    XCTAssertNil(responder.start())
    let r1 = try XCTUnwrap(try responder.receive(i1))
    let i2 = try XCTUnwrap(try initiator.receive(r1))
    let r2 = try XCTUnwrap(try responder.receive(i2))
    XCTAssertNil(try initiator.receive(r2))
    let a = path("alice.session")
    try write(a, SessionFile.serialize(try XCTUnwrap(initiator.result)).copyForTesting())
    return a
  }

  /// `sc-keygen --log --public -o NAME.sign.key`: the key file and the audit key it printed.
  private func makePublicLogKey(_ name: String = "log") throws -> (key: String, audit: String) {
    let key = path(name + ".sign.key")
    let result = try ToolRunner.run("sc-keygen", ["--log", "--public", "-o", key])
    XCTAssertEqual(result.status, 0, result.stderr)
    let audit = String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    XCTAssertTrue(audit.hasPrefix("scaudit1"), audit)
    return (key, audit)
  }

  private func loadKey(_ path: String) throws -> KeyFile.Key {
    try read(path).withUnsafeBytes { try KeyFile.parse($0) }
  }

  private func logcheck(_ arguments: [String]) throws -> ToolResult {
    try ToolRunner.run("sc-logcheck", arguments)
  }

  private func output(_ result: ToolResult) -> String { String(decoding: result.stdout, as: UTF8.self) }

  /// One session direction through `sc-seal -s` with a public log: send-open, a `sent` entry per
  /// message, send-close, and the checkpoints the policy asks for.
  private func sealSession(
    _ session: String, _ messages: [String], log: String, key: String, options: [String] = []
  ) throws {
    let input = Data(messages.map { $0 + "\n" }.joined().utf8)
    let result = try ToolRunner.run(
      "sc-seal", ["-s", try ToolRunner.sessionCopy(session), "--log", log, "--log-key", key] + options,
      stdin: .bytes(input))
    XCTAssertEqual(result.status, 0, "sc-seal: \(result.stderr)")
  }

  private func parse(_ line: [UInt8]) throws -> ReferenceLog.Line {
    try XCTUnwrap(ReferenceLog.Line(line), String(decoding: line, as: UTF8.self))
  }

  /// The line numbers (from 0) of the checkpoints.
  private func checkpointIndices(_ lines: [[UInt8]]) throws -> [Int] {
    try lines.indices.filter { try parse(lines[$0]).kind == "checkpoint" }
  }

  /// `result` is exit 1 with `kind` at `line`, and nothing on standard output.
  private func expectFailure(
    _ result: ToolResult, line: Int, kind: String, _ what: String, file: StaticString = #filePath,
    lineNumber: UInt = #line
  ) {
    XCTAssertEqual(result.status, 1, "\(what): \(result.stderr)", file: file, line: lineNumber)
    XCTAssertTrue(
      result.stderr.contains("line \(line): \(kind):"), "\(what): expected line \(line) \(kind), got: \(result.stderr)",
      file: file, line: lineNumber)
    XCTAssertTrue(result.stdout.isEmpty, what, file: file, line: lineNumber)
  }

  /// What a thief who holds the key file `stolen` writes: the log's lines before `start` as they
  /// are, then every line from `start` on sealed again from the thief's state (which starts at
  /// entry `start`, chained from the real entry before it, with the stolen seed and checkpoint
  /// position at epoch `epoch`), `edit` applied to each entry first. With `resign`, checkpoints are
  /// signed anew with the thief's seed; without, they keep their text (and so their signature)
  /// and are only chained again.
  private func rewrite(
    _ lines: [[UInt8]], from start: Int, stolen: KeyFile.Key, epoch: UInt64, resign: Bool = true,
    edit: (Int, inout LogEntry) -> Void
  ) throws -> [UInt8] {
    let previous =
      start == 0 ? SessionLog.initialPreviousTag : try XCTUnwrap([UInt8](hexString: parse(lines[start - 1]).tag))
    let thief = PublicLogState(
      seed: stolen.secret, nextIndex: UInt64(start), previousTag: previous,
      checkpoint: CheckpointPosition(epoch: epoch, sealedCount: UInt64(start), time: 0))
    var out = join(lines[0..<start])
    for k in start..<lines.count {
      let parsed = try parse(lines[k])
      var entry = try XCTUnwrap(parsed.entry)
      edit(k, &entry)
      if parsed.kind == "checkpoint" && resign {
        out += try thief.sealCheckpoint(time: entry.time, unixTime: 0)
      } else {
        out += thief.seal(entry)
      }
    }
    return out
  }

  // MARK: - 1. Freshness

  /// A log cut back to an earlier checkpoint is a valid log: only a check with the state of an
  /// earlier check (which saw the later checkpoint) fails it, with `truncated`. A log that extends
  /// the state's checkpoint passes. An unsealed tail is reported, and `--max-unsealed` bounds it.
  func testCutBackToAnEarlierCheckpointFailsOnlyWithState() throws {
    let session = try makeSession()
    let (key, audit) = try makePublicLogKey()
    let log = path("chat.log")
    for round in 0..<3 {
      try sealSession(session, (0..<5).map { "round \(round) message \($0)" }, log: log, key: key)
    }
    let full = ReferenceLog.lines(try read(log))
    let checkpoints = try checkpointIndices(full)
    // The first open gets one (no checkpoint yet is as old as it gets), and each close one.
    XCTAssertEqual(checkpoints.count, 4, "checkpoints at lines \(checkpoints)")
    XCTAssertEqual(checkpoints.last, full.count - 1, "a closed session leaves nothing unsealed")
    let state = path("audit.state")
    let first = try logcheck(["-p", audit, "--state", state, log])
    XCTAssertEqual(first.status, 0, first.stderr)
    XCTAssertEqual(
      output(first),
      "\(log): \(full.count) entries verified; 4 checkpoints, the newest at entry \(full.count - 1)"
        + " (\(try parse(full.last!).time))\n")

    // Cut back to the checkpoint of the second session's close.
    let cutCount = checkpoints[2] + 1
    let cut = path("cut.log")
    try write(cut, join(full[0..<cutCount]))
    let alone = try logcheck(["-p", audit, cut])
    XCTAssertEqual(alone.status, 0, "without --state the cut log is a valid log: \(alone.stderr)")
    XCTAssertTrue(output(alone).contains("\(cutCount) entries verified; 3 checkpoints"), output(alone))
    let truncated = try logcheck(["-p", audit, "--state", state, cut])
    expectFailure(truncated, line: cutCount + 1, kind: "truncated", "cut back, with --state")
    // The failed check left the state as it was: the full log passes, the cut one still fails.
    XCTAssertEqual(try logcheck(["-q", "-p", audit, "--state", state, log]).status, 0)
    expectFailure(
      try logcheck(["-q", "-p", audit, "--state", state, cut]), line: cutCount + 1, kind: "truncated", "again")

    // Cut inside the third session: its open and two messages follow the newest checkpoint.
    let tail = path("tail.log")
    try write(tail, join(full[0..<(cutCount + 3)]))
    let unsealed = try logcheck(["-p", audit, tail])
    XCTAssertEqual(unsealed.status, 0, unsealed.stderr)
    XCTAssertTrue(
      output(unsealed).hasSuffix(
        "; 3 entries after it not sealed yet; 1 session direction not closed (still running, or stopped)\n"),
      output(unsealed))
    expectFailure(
      try logcheck(["-p", audit, "--max-unsealed", "2", tail]), line: cutCount + 3, kind: "unsealed",
      "--max-unsealed 2")
    XCTAssertEqual(try logcheck(["-q", "-p", audit, "--max-unsealed", "3", tail]).status, 0)
    XCTAssertEqual(
      try logcheck(["-q", "-p", audit, "--max-unsealed", "0", log]).status, 0, "the full log has no unsealed entry")
    expectFailure(
      try logcheck(["-q", "-p", audit, "--state", state, tail]), line: cutCount + 4, kind: "truncated",
      "the unsealed tail does not reach the state's checkpoint")

    // The log goes on: it extends the state's checkpoint, and the state moves to its newest.
    try sealSession(session, ["round 3"], log: log, key: key)
    XCTAssertEqual(try logcheck(["-q", "-p", audit, "--state", state, log]).status, 0)
    let count = ReferenceLog.lines(try read(log)).count
    expectFailure(
      try logcheck(["-q", "-p", audit, "--state", state, path("tail.log")]), line: cutCount + 4, kind: "truncated",
      "after the state moved on")
    try write(cut, join(full))
    expectFailure(
      try logcheck(["-q", "-p", audit, "--state", state, cut]), line: full.count + 1, kind: "truncated",
      "the log as it was before the fourth session, \(count) entries now")
  }

  /// `--max-age`: a log whose newest checkpoint is older than the given duration is `stale`,
  /// and a log without a checkpoint is too.
  func testNewestCheckpointOlderThanMaxAgeIsStale() throws {
    let session = try makeSession()
    let (key, audit) = try makePublicLogKey()
    let log = path("chat.log")
    try sealSession(session, ["one", "two"], log: log, key: key)
    let lines = ReferenceLog.lines(try read(log))
    XCTAssertEqual(try logcheck(["-q", "-p", audit, "--max-age", "30s", log]).status, 0, "just written")
    usleep(2_100_000)
    expectFailure(try logcheck(["-p", audit, "--max-age", "1s", log]), line: lines.count, kind: "stale", "2 s old")
    XCTAssertEqual(try logcheck(["-q", "-p", audit, "--max-age", "1h", log]).status, 0, "within the hour")
    XCTAssertEqual(try logcheck(["-q", "-p", audit, "--max-age", "3600", log]).status, 0, "in seconds")
    // The log cut before its first checkpoint (the first line is the session's open).
    let bare = path("bare.log")
    try write(bare, join(lines[0..<1]))
    XCTAssertEqual(try logcheck(["-q", "-p", audit, bare]).status, 0)
    let none = try logcheck(["-p", audit, "--max-age", "1d", bare])
    expectFailure(none, line: 1, kind: "stale", "no checkpoint")
    XCTAssertTrue(none.stderr.contains("the log has no checkpoint"), none.stderr)
  }

  // MARK: - 2. A thief of the key file

  /// The writers copy each checkpoint to `--checkpoints-to`. A thief copies the key file after two
  /// sessions; two more sessions follow. He then rewrites an entry written after the theft (after
  /// the last checkpoint before it, before the next one) and signs every checkpoint after it
  /// again with the stolen seed. The public key alone accepts that log (the documented limit);
  /// the copy of the checkpoints made before the rewrite exposes it.
  func testCheckpointCopyExposesAHistoryRewrittenWithAStolenKey() throws {
    let session = try makeSession()
    let (key, audit) = try makePublicLogKey()
    let log = path("chat.log")
    let copy = path("checkpoints.copy")
    let options = ["--checkpoints-to", copy]
    for round in 0..<2 {
      try sealSession(session, (0..<4).map { "before \(round).\($0)" }, log: log, key: key, options: options)
    }
    try write(path("stolen.key"), try read(key))
    let stolen = try loadKey(path("stolen.key"))
    for round in 0..<2 {
      try sealSession(session, (0..<4).map { "after \(round).\($0)" }, log: log, key: key, options: options)
    }
    let lines = ReferenceLog.lines(try read(log))
    let checkpoints = try checkpointIndices(lines)
    // The copy holds exactly the log's checkpoint lines, in order.
    XCTAssertEqual(ReferenceLog.lines(try read(copy)), checkpoints.map { lines[$0] })
    XCTAssertEqual(try logcheck(["-q", "-p", audit, "--checkpoints", copy, log]).status, 0)

    let theft = Int(try XCTUnwrap(stolen.logPosition).nextIndex)
    let stolenEpoch = try XCTUnwrap(stolen.checkpointPosition).epoch
    XCTAssertEqual(try parse(lines[theft - 1]).kind, "checkpoint", "the last entry before the theft is a checkpoint")
    XCTAssertEqual(stolen.checkpointPosition?.sealedCount, UInt64(theft))
    let target = theft + 2  // the second message of the third session
    let nextCheckpoint = try XCTUnwrap(checkpoints.first { $0 > target })
    XCTAssertEqual(try parse(lines[target]).kind, "sent")
    XCTAssertLessThan(try XCTUnwrap(checkpoints.last { $0 < target }), theft)

    let forged = try rewrite(lines, from: theft, stolen: stolen, epoch: stolenEpoch) { k, entry in
      if k == target { entry.text = Array("nothing to see here\n".utf8) }
    }
    XCTAssertNotEqual(forged, try read(log))
    let rewritten = path("rewritten.log")
    try write(rewritten, forged)
    let alone = try logcheck(["-p", audit, rewritten])
    XCTAssertEqual(alone.status, 0, "the audit key alone cannot tell (the documented limit): \(alone.stderr)")
    XCTAssertTrue(output(alone).contains("\(lines.count) entries verified"), output(alone))
    let withCopy = try logcheck(["-p", audit, "--checkpoints", copy, rewritten])
    expectFailure(withCopy, line: nextCheckpoint + 1, kind: "rolled-back", "the copy of the checkpoints")
    // The thief's log with the real checkpoints put back fails on the chain.
    var mixed = ReferenceLog.lines(forged)
    mixed[nextCheckpoint] = lines[nextCheckpoint]
    try write(rewritten, join(mixed))
    XCTAssertEqual(try logcheck(["-q", "-p", audit, rewritten]).status, 1)
  }

  /// Forward security through the tools: the same thief rewrites an entry before the last
  /// checkpoint written before the theft, chains everything after it again and signs every
  /// checkpoint after it with what he holds (the stolen seed), or keeps their old signatures.
  /// `sc-logcheck -p` rejects each at the first checkpoint after the change (`forged`), without
  /// any copy or state.
  func testAStolenKeyCannotRewriteEntriesBeforeTheLastCheckpointBeforeTheTheft() throws {
    let session = try makeSession()
    let (key, audit) = try makePublicLogKey()
    let log = path("chat.log")
    for round in 0..<3 {
      try sealSession(session, (0..<4).map { "before \(round).\($0)" }, log: log, key: key)
    }
    let stolen = try loadKey(key)
    try sealSession(session, (0..<4).map { "after \($0)" }, log: log, key: key)
    let lines = ReferenceLog.lines(try read(log))
    let checkpoints = try checkpointIndices(lines)
    let theft = Int(try XCTUnwrap(stolen.logPosition).nextIndex)
    let epochs = try checkpoints.map { try XCTUnwrap(UInt64(parse(lines[$0]).sequence)) }
    XCTAssertEqual(epochs, Array(0..<UInt64(checkpoints.count)))
    XCTAssertEqual(checkpoints.filter { $0 < theft }.count, Int(try XCTUnwrap(stolen.checkpointPosition).epoch))

    // The control: the same rewriting from the theft on verifies (the thief's own checkpoints).
    let after = try rewrite(lines, from: theft, stolen: stolen, epoch: stolen.checkpointPosition!.epoch) { k, entry in
      if k == theft + 1 { entry.text = Array("nothing to see here\n".utf8) }
    }
    try write(path("after.log"), after)
    XCTAssertEqual(try logcheck(["-q", "-p", audit, path("after.log")]).status, 0)

    // The first entry, a message of the first and of the third session, the close just before the
    // last checkpoint before the theft, and that checkpoint itself (its time changed).
    for target in [0, 3, theft - 4, theft - 2, theft - 1] {
      let firstCheckpoint = try XCTUnwrap(checkpoints.first { $0 >= target })
      let epoch = UInt64(checkpoints.firstIndex(of: firstCheckpoint)!)
      for resign in [true, false] where resign || target != firstCheckpoint {
        let forged = try rewrite(lines, from: target, stolen: stolen, epoch: epoch, resign: resign) { k, entry in
          guard k == target else { return }
          if entry.kind == .checkpoint {
            entry.time = "2026-01-01T00:00:00.000000Z"
          } else {
            entry.text = Array("nothing to see here\n".utf8)
          }
        }
        XCTAssertNotEqual(forged, join(lines))
        try write(path("forged.log"), forged)
        expectFailure(
          try logcheck(["-p", audit, path("forged.log")]), line: firstCheckpoint + 1, kind: "forged",
          "entry \(target) rewritten, checkpoints \(resign ? "signed with the stolen seed" : "kept")")
      }
    }
  }

  // MARK: - 3. Heartbeat

  /// `--checkpoint-seconds 1`: a session idle for 2.5 s gets checkpoints while idle (the
  /// heartbeat thread), and `sc-logcheck --max-age 2s` passes on the live log.
  func testHeartbeatSealsAnIdleSession() throws {
    let session = try makeSession()
    let (key, audit) = try makePublicLogKey()
    let log = path("chat.log")
    let writer = try BackgroundTool(
      try ToolRunner.path(of: "sc-seal"),
      ["-s", try ToolRunner.sessionCopy(session), "--log", log, "--log-key", key, "--checkpoint-seconds", "1"],
      stderrPath: path("writer.err"))
    defer { writer.kill() }
    XCTAssertTrue(writer.send(Array("before the pause\n".utf8)))
    // The pause starts once the message is logged.
    let deadline = Date().addingTimeInterval(20)
    while !(String(decoding: (try? read(log)) ?? [], as: UTF8.self).contains("before the pause")) {
      XCTAssertTrue(
        writer.isRunning, "the writer exited: \(String(decoding: (try? read(path("writer.err"))) ?? [], as: UTF8.self))"
      )
      guard Date() < deadline, writer.isRunning else { return XCTFail("the message was never logged") }
      usleep(5000)
    }
    usleep(2_500_000)
    let live = try logcheck(["-p", audit, "--max-age", "2s", log])
    XCTAssertEqual(live.status, 0, "while idle: \(live.stderr)")
    XCTAssertTrue(writer.send(Array("after the pause\n".utf8)))
    writer.closeInput()
    let status = writer.wait(timeout: 20)
    let errors = String(decoding: try read(path("writer.err")), as: UTF8.self)
    XCTAssertEqual(status, 0, errors)

    let lines = try ReferenceLog.lines(read(log)).map(parse)
    let before = try XCTUnwrap(lines.firstIndex { String(decoding: $0.text, as: UTF8.self) == "before the pause\\n" })
    let after = try XCTUnwrap(lines.firstIndex { String(decoding: $0.text, as: UTF8.self) == "after the pause\\n" })
    let idle = lines[before..<after].filter { $0.kind == "checkpoint" }.count
    XCTAssertGreaterThanOrEqual(idle, 2, "checkpoints while idle: \(lines.map(\.kind))")
    // The check while idle saw a checkpoint of the pause (--max-age 2s alone would also pass a
    // checkpoint 2.9 s old: the times are compared in whole seconds).
    let newest = output(live).components(separatedBy: "the newest at entry ").last?.prefix { $0.isNumber }
    XCTAssertGreaterThan(Int(newest ?? "") ?? 0, before, output(live))
    let done = try logcheck(["-p", audit, "--max-age", "2s", "--max-unsealed", "0", log])
    XCTAssertEqual(done.status, 0, done.stderr)
    print("heartbeat: \(idle) checkpoints in 2.5 s idle; \(output(done))", terminator: "")
  }

  // MARK: - 4. Writers killed with SIGKILL

  /// What a writer killed in an append leaves, made exactly: its entries and checkpoint written
  /// but the key file not replaced (the next writer checks that checkpoint against its seed and
  /// evolves it), or a checkpoint torn in its write (the next writer cuts it and logs the cut; the
  /// checkpoint number is used again). A checkpoint ahead of the key that its seed did not sign
  /// stops the writer.
  func testNextWriterFinishesAnInterruptedCheckpointAndRepairsATornOne() throws {
    let session = try makeSession()
    let (key, audit) = try makePublicLogKey()
    let log = path("chat.log")
    try sealSession(session, ["one", "two"], log: log, key: key)
    /// An entry and a checkpoint sealed from the key file, which is left as it is.
    func inFlight(_ name: String) throws -> [UInt8] {
      let stored = try loadKey(key)
      let position = try XCTUnwrap(stored.logPosition)
      let writer = PublicLogState(
        seed: stored.secret, nextIndex: position.nextIndex, previousTag: position.previousTag,
        checkpoint: try XCTUnwrap(stored.checkpointPosition))
      return writer.seal(
        LogEntry(
          time: "2026-12-04T20:00:00.000000Z", kind: .sent, sessionID: [], peer: [], sequence: 7,
          text: Array("\(name)\n".utf8)))
        + (try writer.sealCheckpoint(time: "2026-12-04T20:00:00.000001Z", unixTime: 0))
    }
    func checkpointCount() throws -> Int { try checkpointIndices(ReferenceLog.lines(read(log))).count }

    // Written, key not replaced.
    let before = try read(log)
    try write(log, before + (try inFlight("in flight")))
    let ahead = try logcheck(["-p", audit, log])
    XCTAssertEqual(ahead.status, 0, ahead.stderr)
    XCTAssertTrue(output(ahead).contains("; 3 checkpoints,"), output(ahead))
    try sealSession(session, ["three"], log: log, key: key)
    XCTAssertEqual(try logcheck(["-q", "-p", audit, "--max-unsealed", "0", log]).status, 0)
    XCTAssertEqual(try loadKey(key).checkpointPosition?.epoch, UInt64(try checkpointCount()), "the seed moved on")

    // Torn in the checkpoint.
    let whole = try read(log)
    let flight = try inFlight("torn")
    let kept = flight.count - 100
    try write(log, whole + flight[0..<kept])
    let complete = ReferenceLog.lines(whole).count + 1
    expectFailure(try logcheck(["-p", audit, log]), line: complete + 1, kind: "torn", "a torn checkpoint")
    try sealSession(session, ["four"], log: log, key: key)
    let lines = ReferenceLog.lines(try read(log))
    let repair = try parse(lines[complete])
    XCTAssertEqual(repair.kind, "repair")
    let cut = kept - (try XCTUnwrap(flight.firstIndex(of: 0x0a)) + 1)
    XCTAssertTrue(
      String(decoding: repair.text, as: UTF8.self).hasPrefix("cut \(cut) bytes"),
      String(decoding: repair.text, as: UTF8.self))
    let repaired = try logcheck(["-p", audit, "--max-unsealed", "0", log])
    XCTAssertEqual(repaired.status, 0, repaired.stderr)
    XCTAssertEqual(try loadKey(key).checkpointPosition?.epoch, UInt64(try checkpointCount()))

    // A checkpoint ahead of the key, signed by another seed: the writer refuses the log.
    let good = try read(log)
    let (otherKey, _) = try makePublicLogKey("other")
    var stolen = try loadKey(key)
    let otherSeed = try loadKey(otherKey).secret
    stolen = KeyFile.Key(
      type: .logSign, secret: otherSeed, logPosition: stolen.logPosition, checkpointPosition: stolen.checkpointPosition,
      auditKey: stolen.auditKey)
    let position = try XCTUnwrap(stolen.logPosition)
    let impostor = PublicLogState(
      seed: otherSeed, nextIndex: position.nextIndex, previousTag: position.previousTag,
      checkpoint: try XCTUnwrap(stolen.checkpointPosition))
    let forged = try impostor.sealCheckpoint(time: "2026-12-04T20:00:00.000002Z", unixTime: 0)
    try write(log, good + forged)
    let keyBefore = try read(key)
    let refused = try ToolRunner.run(
      "sc-seal", ["-s", try ToolRunner.sessionCopy(session), "--log", log, "--log-key", key],
      stdin: .bytes(Data("five\n".utf8)))
    XCTAssertEqual(refused.status, 1, refused.stderr)
    XCTAssertTrue(refused.stderr.contains("does not match its sealing key"), refused.stderr)
    XCTAssertEqual(try read(log), good + forged, "the log is left as it was")
    XCTAssertEqual(try read(key), keyBefore, "the key is left as it was")
    expectFailure(
      try logcheck(["-p", audit, log]), line: ReferenceLog.lines(good).count + 1, kind: "forged", "another seed")
  }

  /// `sc-seal -s --log` with a public log and a checkpoint at every append (`--checkpoint-entries
  /// 1`), fed messages in small and large bursts through a pipe, killed with SIGKILL after a
  /// random delay of 0–20 ms: at startup, in its appends, its checkpoints, its fsync(2)s and key
  /// file replacements (the test directory is not a tmpfs, so that the fsync(2)s between the log's
  /// write and the key file's replacement take time). After each kill `sc-logcheck -p` exits 0,
  /// or 1 with `torn` at the line after the last complete one; the complete lines hold exactly the
  /// messages sent, in order, each writer's block from sequence 0 on. Then a writer runs to its
  /// end: it repairs or finishes what the killed one left, and the whole log verifies with
  /// nothing unsealed. A new log every ten runs; `sc-logcheck -p --checkpoints` with the writers'
  /// copy at the end of each. `SC_PUBLIC_LOG_KILL_RUNS` sets the number of runs (200).
  func testWriterKilledAtRandomPointsLeavesAVerifiableLog() throws {
    let runs = Int(ProcessInfo.processInfo.environment["SC_PUBLIC_LOG_KILL_RUNS"] ?? "") ?? 200
    let session = try makeSession()
    let started = Date()
    var outcomes: [String: Int] = [:]
    var sentCounts: [Int: Int] = [:]
    var writerNumber = 0
    var log = ""
    var key = ""
    var audit = ""
    var copy = ""
    func message(_ writer: Int, _ k: Int) -> [UInt8] {
      Array("w\(writer) m\(k) \(String(repeating: "x", count: k % 41))\n".utf8)
    }
    // What the writers that ran to their end left: checked, and never changed afterwards.
    var verified: [UInt8] = []
    var verifiedLines = 0
    var verifier: PublicLogVerifier?
    var totalLines = 0
    func size(_ path: String) -> Int {
      var info = stat()
      return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }
    for run in 0..<runs {
      if run % 10 == 0 {
        if !verified.isEmpty {
          let check = try logcheck(["-q", "-p", audit, "--checkpoints", copy, log])
          XCTAssertEqual(check.status, 0, "with the copy of the checkpoints: \(check.stderr)")
        }
        totalLines += verifiedLines
        log = path("kill\(run / 10).log")
        copy = path("kill\(run / 10).checkpoints")
        (key, audit) = try makePublicLogKey("kill\(run / 10)")
        verifier = PublicLogVerifier(auditKey: try AuditKey(text: audit))
        verified = []
        verifiedLines = 0
      }
      let options = ["--log", log, "--log-key", key, "--checkpoint-entries", "1", "--checkpoints-to", copy]
      // The killed writer.
      writerNumber += 1
      let killed = writerNumber
      let writer = try BackgroundTool(
        try ToolRunner.path(of: "sc-seal"), ["-s", try ToolRunner.sessionCopy(session)] + options,
        stderrPath: "/dev/null")
      // One run in four is timed from the start (the kill lands before or in the first append);
      // the others from the first append on (their own open entry is in the log).
      if run % 4 != 0 {
        let deadline = Date().addingTimeInterval(10)
        while writer.isRunning && Date() < deadline && size(log) <= verified.count { usleep(200) }
      }
      let killAt = Date().addingTimeInterval(Double.random(in: 0...0.020))
      var pending: [UInt8] = []
      var k = 0
      var sent = 0
      var burst = false
      while Date() < killAt {
        if pending.isEmpty {
          // Mostly one to three messages (an append each), at most once 1000 (an append of many
          // entries, 150 kB in one write(2)).
          let big = !burst && Int.random(in: 0..<8) == 0
          burst = burst || big
          for _ in 0..<(big ? 1000 : Int.random(in: 1...3)) {
            pending += message(killed, k)
            k += 1
          }
        }
        let written = writer.sendSome(pending)
        if written > 0 {
          sent += pending[0..<written].filter { $0 == 0x0a }.count
          pending.removeFirst(written)
        }
        usleep(300)
      }
      XCTAssertEqual(writer.kill(), 128 + SIGKILL, "run \(run): the writer was killed")
      sentCounts[killed] = sent

      let exists = FileManager.default.fileExists(atPath: log)
      let data = exists ? try read(log) : []
      guard data.starts(with: verified) else {
        return XCTFail("run \(run): the killed writer changed what was in the log before it")
      }
      let complete = data.filter { $0 == 0x0a }.count
      var outcome: String
      if !exists {
        outcome = "killed before it created the log"
      } else if data.count == verified.count {
        outcome = "killed before its first append"
      } else if data.last == 0x0a {
        outcome = "complete lines"
        let keyAt = try XCTUnwrap(loadKey(key).logPosition).nextIndex
        if keyAt < UInt64(complete) { outcome += ", the key behind the log" }
      } else {
        outcome = "torn"
      }
      outcomes[outcome, default: 0] += 1
      let check = try logcheck(["-p", audit, log])
      if !exists {
        XCTAssertEqual(check.status, 2, "run \(run): no log: \(check.stderr)")
      } else if data.isEmpty || data.last == 0x0a {
        XCTAssertEqual(check.status, 0, "run \(run) (\(outcome)): \(check.stderr)")
      } else {
        XCTAssertEqual(check.status, 1, "run \(run) (\(outcome)): \(check.stderr)")
        XCTAssertTrue(check.stderr.contains("line \(complete + 1): torn:"), "run \(run): \(check.stderr)")
      }
      // The killed writer's complete lines: what it was sent, in order.
      let written = ReferenceLog.lines(Array(data[verified.count...]))
      if let failure = unexpectedEntries(
        written, firstLine: verifiedLines + 1, writersAfter: killed - 1, sent: sentCounts, message: message)
      {
        return XCTFail("run \(run) (\(outcome)), after the kill: \(failure)")
      }

      // The next writer repairs or finishes the killed one's work, and runs to its end.
      writerNumber += 1
      let next = try ToolRunner.run(
        "sc-seal", ["-s", try ToolRunner.sessionCopy(session)] + options,
        stdin: .bytes(Data(message(writerNumber, 0) + message(writerNumber, 1))))
      XCTAssertEqual(next.status, 0, "run \(run) (\(outcome)): the next writer: \(next.stderr)")
      sentCounts[writerNumber] = 2
      let after = try read(log)
      guard after.last == 0x0a, after.starts(with: verified) else {
        return XCTFail("run \(run) (\(outcome)): the next writer left a torn line or changed earlier lines")
      }
      let added = ReferenceLog.lines(Array(after[verified.count...]))
      if let failure = unexpectedEntries(
        added, firstLine: verifiedLines + 1, writersAfter: killed - 1, sent: sentCounts, message: message)
      {
        return XCTFail("run \(run) (\(outcome)), after the next writer: \(failure)")
      }
      for (i, line) in added.enumerated() {
        do {
          try line.withUnsafeBytes { try verifier!.verify(line: $0, lineNumber: verifiedLines + i + 1, nextLine: nil) }
        } catch {
          return XCTFail("run \(run) (\(outcome)), after the next writer: \(error)")
        }
      }
      XCTAssertEqual(verifier!.unsealedCount, 0, "run \(run): the next writer's close is sealed")
      if outcome == "torn" {
        XCTAssertEqual(
          try parse(added[complete - verifiedLines]).kind, "repair", "run \(run): the torn line was cut and logged")
      }
      let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".key.new.") }
      XCTAssertEqual(leftovers, [], "run \(run): temporary key files are removed by the next writer")
      verified = after
      verifiedLines += added.count
    }
    totalLines += verifiedLines
    let check = try logcheck(["-q", "-p", audit, "--checkpoints", copy, log])
    XCTAssertEqual(check.status, 0, "with the copy of the checkpoints: \(check.stderr)")
    print(
      "SIGKILL outcomes in \(runs) runs (\(String(format: "%.1f", Date().timeIntervalSince(started))) s,"
        + " \(totalLines) lines in all): "
        + outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    XCTAssertGreaterThan(
      outcomes.filter { $0.key.hasPrefix("complete") || $0.key == "torn" }.values.reduce(0, +), runs / 2,
      "most kills land after the writer's first append")
  }

  /// Nil if the `sent` entries of `lines` (the log's lines from `firstLine` on, starting a session
  /// direction) are exactly what their writers were sent: each block (from a send-open) of one
  /// writer, numbered from 0 without gaps, each text the message with that number, writers in
  /// increasing order after `writersAfter`; else what is wrong.
  private func unexpectedEntries(
    _ lines: [[UInt8]], firstLine: Int, writersAfter: Int, sent: [Int: Int], message: (Int, Int) -> [UInt8]
  ) -> String? {
    var writer: Int?
    var lastWriter = writersAfter
    var nextSequence: UInt64 = 0
    var open = false
    for (offset, line) in lines.enumerated() {
      let i = firstLine - 1 + offset
      guard let parsed = ReferenceLog.Line(line), let entry = parsed.entry else {
        return "line \(i + 1) does not parse"
      }
      switch entry.kind {
      case .sendOpen:
        open = true
        writer = nil
        nextSequence = 0
      case .sent:
        let text = String(decoding: entry.text, as: UTF8.self)
        let fields = text.split(separator: " ")
        guard open, fields.count >= 2, fields[0].hasPrefix("w"), fields[1].hasPrefix("m"),
          let w = Int(fields[0].dropFirst()), let k = Int(fields[1].dropFirst())
        else { return "line \(i + 1): an entry no writer was sent: \(text)" }
        if writer == nil {
          guard w > lastWriter else { return "line \(i + 1): writer \(w) after writer \(lastWriter)" }
          writer = w
          lastWriter = w
        }
        guard w == writer, entry.sequence == nextSequence, k == nextSequence else {
          return "line \(i + 1): message \(k) of writer \(w), seq \(String(describing: entry.sequence)), where message"
            + " \(nextSequence) of writer \(writer!) was next"
        }
        guard k < sent[w] ?? 0 else {
          return "line \(i + 1): message \(k) of writer \(w), who was sent \(sent[w] ?? 0)"
        }
        guard entry.text == message(w, k) else { return "line \(i + 1): message \(k) of writer \(w) altered: \(text)" }
        nextSequence += 1
      case .sendClose:
        guard open, String(decoding: entry.text, as: UTF8.self).hasPrefix("\(nextSequence) message") else {
          return "line \(i + 1): a close that does not count the messages before it"
        }
        open = false
      case .checkpoint, .repair: break
      default: return "line \(i + 1): an entry of kind \(entry.kind)"
      }
    }
    return nil
  }

  /// A copy of the checkpoints torn by a crash (its last line cut short) still serves: the next
  /// writer ends the torn line before its checkpoint, and `--checkpoints` skips the piece.
  /// And `--checkpoint-entries N` holds within one large append: never more than N unsealed.
  func testATornCheckpointCopyStillServesAndNoAppendLeavesMoreThanNUnsealed() throws {
    let session = try makeSession()
    let (key, audit) = try makePublicLogKey()
    let log = path("torn-copy.log")
    let copy = path("torn-copy.checkpoints")
    try sealSession(session, ["one", "two"], log: log, key: key, options: ["--checkpoints-to", copy])
    var bytes = try read(copy)
    XCTAssertEqual(bytes.last, 0x0a)
    bytes += bytes.prefix(100)  // a crash in the middle of the next copy
    try write(copy, bytes)
    try sealSession(session, ["three"], log: log, key: key, options: ["--checkpoints-to", copy])
    let checked = try logcheck(["-p", audit, "--checkpoints", copy, log])
    XCTAssertEqual(checked.status, 0, checked.stderr)
    XCTAssertTrue(try read(copy).split(separator: 0x0a).count >= 3)

    // 2500 lines in one read, a checkpoint every 100 entries: none may have more after it.
    let big = path("big.log")
    let (bigKey, bigAudit) = try makePublicLogKey("big")
    try sealSession(
      session, (0..<2500).map { "line \($0)" }, log: big, key: bigKey, options: ["--checkpoint-entries", "100"])
    let lines = try read(big).split(separator: 0x0a).map(Array.init)
    var unsealed = 0
    var most = 0
    for line in lines {
      if try parse(line).kind == "checkpoint" { unsealed = 0 } else { unsealed += 1 }
      most = max(most, unsealed)
    }
    XCTAssertLessThanOrEqual(most, 100)
    XCTAssertEqual(try logcheck(["-p", bigAudit, "--max-unsealed", "0", big]).status, 0)
  }
}

/// A tool running in the background with its standard input on a pipe that the test writes to,
/// and its standard output on /dev/null; killed (SIGKILL) and reaped by its PID at the latest when
/// released.
final class BackgroundTool {
  let pid: pid_t
  private var input: Int32
  private var status: Int32?

  init(_ executable: String, _ arguments: [String], stderrPath: String) throws {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { throw ToolRunnerError(description: "pipe failed") }
    // Neither end leaks into other children; the child's stdin is a dup2 of the read end.
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    ToolRunner.restoreSignals(&attributes)
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
    close(fds[0])
    guard spawned == 0 else {
      close(fds[1])
      throw ToolRunnerError(description: "cannot run \(executable): \(String(cString: strerror(spawned)))")
    }
    self.pid = pid
    input = fds[1]
    _ = fcntl(input, F_SETFL, fcntl(input, F_GETFL) | O_NONBLOCK)
  }

  deinit { kill() }

  /// Writes what the pipe takes now, without blocking: the number of bytes written.
  func sendSome(_ bytes: [UInt8]) -> Int {
    guard input >= 0, !bytes.isEmpty else { return 0 }
    let n = bytes.withUnsafeBytes { Glibc.write(input, $0.baseAddress!, $0.count) }
    return max(n, 0)
  }

  /// Writes all of `bytes` (waiting for the pipe up to 10 s); false if the tool stopped reading.
  func send(_ bytes: [UInt8]) -> Bool {
    var offset = 0
    let deadline = Date().addingTimeInterval(10)
    while offset < bytes.count && Date() < deadline {
      let n = sendSome(Array(bytes[offset...]))
      if n == 0 {
        guard isRunning else { return false }
        usleep(1000)
      }
      offset += n
    }
    return offset == bytes.count
  }

  func closeInput() {
    if input >= 0 { close(input) }
    input = -1
  }

  var isRunning: Bool {
    guard status == nil else { return false }
    var raw: Int32 = 0
    guard waitpid(pid, &raw, WNOHANG) == pid else { return true }
    status = Self.exitStatus(raw)
    return false
  }

  /// The exit status (128 + N when killed by signal N) once it exits, or nil after `timeout`
  /// seconds (it is then killed).
  func wait(timeout: TimeInterval) -> Int32? {
    let deadline = Date().addingTimeInterval(timeout)
    while isRunning {
      guard Date() < deadline else {
        kill()
        return nil
      }
      usleep(2000)
    }
    return status
  }

  /// Kills it with SIGKILL (if it still runs) and reaps it: its exit status.
  @discardableResult
  func kill() -> Int32 {
    closeInput()
    if status == nil {
      Glibc.kill(pid, SIGKILL)
      var raw: Int32 = 0
      while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
      status = Self.exitStatus(raw)
    }
    return status!
  }

  private static func exitStatus(_ raw: Int32) -> Int32 {
    let signalNumber = raw & 0x7f
    return signalNumber == 0 ? (raw >> 8) & 0xff : 128 + signalNumber
  }
}
